/**
 * Threat model — Server-Sent Events (docs/security.md): a live stream holds a socket, a timer and
 * a subscription in an API process for as long as it is open. Whatever a client does — hang up
 * halfway through setup, open many, keep one open past its token — those are given back.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { asUser } from './helpers/user-token.ts';
import { NO_HOOKS } from '../src/core/hooks.ts';

let h: TestHarness;
let address: string;
before(async () => {
  h = await createHarness({ HERALD_SSE_MAX_STREAMS_PER_USER: '3' }, { hooks: NO_HOOKS });
  address = await h.app.listen({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  await h.close();
});

const idle = () => ({ streams: 0, subscribers: 0, timers: 0 });

type Stats = { streams: number; subscribers: number; timers: number };

/** Polls until the inbox's live-stream bookkeeping shows `want` (or 5 s pass), then returns those figures. */
async function settle<K extends keyof Stats>(want: Pick<Stats, K>): Promise<Pick<Stats, K>> {
  const pick = (): Pick<Stats, K> => {
    const stats = h.services.inbox.streamStats() as Stats;
    return Object.fromEntries(Object.keys(want).map((k) => [k, stats[k as K]])) as Pick<Stats, K>;
  };
  for (let i = 0; i < 100 && JSON.stringify(pick()) !== JSON.stringify(want); i++) await new Promise((r) => setTimeout(r, 50));
  return pick();
}

/** A stream whose client hangs up as soon as the first byte arrives, while the server is still setting it up. */
function openAndAbort(headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const url = new URL('/v1/me/inbox/stream', address);
    const req = httpRequest(url, { headers: { ...headers, 'last-event-id': '0193d5c2-0000-7000-8000-000000000000' } }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
      res.once('end', resolve);
    });
    req.on('error', (error) => ((error as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(error)));
    req.end();
  });
}

/** An open stream: its response, and the text read so far. */
async function open(headers: Record<string, string>): Promise<{ res: Response; abort: () => void; read: (until: string, ms?: number) => Promise<{ text: string; ended: boolean }> }> {
  const controller = new AbortController();
  const res = await fetch(`${address}/v1/me/inbox/stream`, { headers, signal: controller.signal });
  let text = '';
  const reader = res.body?.getReader();
  return {
    res,
    abort: () => controller.abort(),
    async read(until, ms = 10_000) {
      const deadline = Date.now() + ms;
      while (!text.includes(until) && Date.now() < deadline) {
        const chunk = await Promise.race([reader!.read(), new Promise<undefined>((r) => setTimeout(() => r(undefined), deadline - Date.now()))]);
        if (!chunk) break;
        if (chunk.done) return { text, ended: true };
        text += new TextDecoder().decode(chunk.value);
      }
      return { text, ended: false };
    },
  };
}

test('clients that hang up during stream setup leave no subscription and no timer behind (60 aborts)', async () => {
  const headers = await asUser('aborter', { exp: '10m' });
  for (let round = 0; round < 6; round++) {
    await Promise.all(Array.from({ length: 10 }, () => openAndAbort(headers)));
  }
  assert.deepEqual(await settle(idle()), idle());
  // Nothing leaked means the user's stream slots are all free again.
  const streams = await Promise.all([open(headers), open(headers), open(headers)]);
  for (const s of streams) assert.equal(s.res.status, 200);
  for (const s of streams) s.abort();
  assert.deepEqual(await settle(idle()), idle());
});

test('a user holds at most HERALD_SSE_MAX_STREAMS_PER_USER streams; the next is 429 RATE_LIMITED with Retry-After', async () => {
  const headers = await asUser('greedy');
  const held = [await open(headers), await open(headers), await open(headers)];
  for (const s of held) assert.equal(s.res.status, 200);
  const refused = await fetch(`${address}/v1/me/inbox/stream`, { headers });
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After says when to try again');
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'RATE_LIMITED');
  // Another user is not affected, and closing a stream frees its slot.
  const other = await open(await asUser('modest'));
  assert.equal(other.res.status, 200);
  other.abort();
  held[0]!.abort();
  assert.deepEqual(await settle({ streams: 2, subscribers: 2 }), { streams: 2, subscribers: 2 });
  const again = await open(headers);
  assert.equal(again.res.status, 200);
  for (const s of [again, held[1]!, held[2]!]) s.abort();
  assert.deepEqual(await settle(idle()), idle());
});

test('a stream ends when its token expires, after a final `expired` event', async () => {
  const headers = await asUser('short-lived', { exp: Math.floor(Date.now() / 1000) + 3 });
  const stream = await open(headers);
  assert.equal(stream.res.status, 200);
  const first = await stream.read('event: expired');
  assert.match(first.text, /event: expired\ndata: \{"reason":"token expired"\}\n\n/);
  const rest = await stream.read('never sent');
  assert.equal(rest.ended, true, 'the server closed the stream');
  assert.deepEqual(await settle(idle()), idle());
  const late = await fetch(`${address}/v1/me/inbox/stream`, { headers });
  assert.equal(late.status, 401, 'and the expired token cannot open another');
});
