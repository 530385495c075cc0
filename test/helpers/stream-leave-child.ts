// Run as a child process by test/inbox-stream.test.ts: clients that open the inbox stream and
// leave at once, then a full shutdown. The process must then exit by itself; a subscription or
// keep-alive timer left behind would keep it running, and the parent's time limit fails the test.
import { createHarness } from './app.ts';

const h = await createHarness();
const address = await h.app.listen({ port: 0, host: '127.0.0.1' });
for (let i = 0; i < 3; i++) {
  const leave = new AbortController();
  const res = await fetch(`${address}/v1/users/leaver/inbox/stream`, { headers: { authorization: `Bearer ${h.apiKey}` }, signal: leave.signal });
  if (res.status !== 200) throw new Error(`stream answered ${res.status}`);
  leave.abort();
}
await h.close();
console.log('closed');
