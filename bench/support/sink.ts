// A local keep-alive webhook sink in its own process that answers 200 at once. It speaks just
// enough HTTP/1.1 on a raw socket (request line, headers, Content-Length body; keep-alive) to
// stay cheap: a full Node HTTP server plus JSON parsing per request cost as much CPU as the
// senders being measured, on a 2-core machine. It records when each delivery arrived relative
// to its due time (the webhook body carries `dueAt`) and duplicates by `deliveryId`, and reports
// over IPC. Used by the engine benchmark for herald and for the baseline alike.
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

let count = 0;
let first = 0;
let last = 0;
let lateness: number[] = [];
const seen = new Set<string>();
let duplicates = 0;
const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\nkeep-alive: timeout=120\r\n\r\n{}');

/** A JSON string field's value, found without parsing the whole body. */
function field(body: string, name: string): string | undefined {
  const key = `"${name}":"`;
  const at = body.indexOf(key);
  if (at < 0) return undefined;
  const end = body.indexOf('"', at + key.length);
  return end < 0 ? undefined : body.slice(at + key.length, end);
}

function onRequest(body: string): void {
  const now = Date.now();
  count++;
  if (!first) first = now;
  last = now;
  const due = field(body, 'dueAt');
  if (due) lateness.push(now - Date.parse(due));
  const id = field(body, 'deliveryId');
  if (id) {
    if (seen.has(id)) duplicates++;
    else seen.add(id);
  }
}

function serve(socket: Socket): void {
  let buffer = '';
  socket.setNoDelay(true);
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let responses = 0;
    for (;;) {
      const headerEnd = buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) break;
      const head = buffer.slice(0, headerEnd).toLowerCase();
      const m = /content-length:\s*(\d+)/.exec(head);
      const length = m ? Number(m[1]) : 0;
      if (buffer.length < headerEnd + 4 + length) break;
      onRequest(buffer.slice(headerEnd + 4, headerEnd + 4 + length));
      buffer = buffer.slice(headerEnd + 4 + length);
      responses++;
    }
    if (responses === 1) socket.write(RESPONSE);
    else if (responses > 1) socket.write(Buffer.concat(Array.from({ length: responses }, () => RESPONSE)));
  });
  socket.on('error', () => undefined);
}

const server = createServer(serve);
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});
process.on('message', (msg: { type: string }) => {
  if (msg.type === 'report') {
    const sorted = Float64Array.from(lateness).sort();
    const pct = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0);
    process.send?.({ type: 'report', count, first, last, duplicates, p50: pct(50), p99: pct(99), max: sorted.length ? sorted[sorted.length - 1] : 0 });
  } else if (msg.type === 'reset') {
    count = 0;
    first = 0;
    last = 0;
    lateness = [];
    seen.clear();
    duplicates = 0;
    process.send?.({ type: 'reset' });
  } else if (msg.type === 'exit') {
    server.close();
    process.exit(0);
  }
});
// The benchmark that forked this sink is gone (it may exit before its 'exit' message is read):
// go too, or the sink would live on and hold the benchmark's output open (a `| tee` never ends).
process.on('disconnect', () => process.exit(0));
