// A local keep-alive webhook sink in its own process: answers 200 at once, records when each
// delivery arrived relative to its due time (the webhook body carries `dueAt`), and reports
// over IPC. Used by the engine benchmark for herald and for the baseline alike.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

let count = 0;
let first = 0;
let last = 0;
let lateness: number[] = [];
const seen = new Set<string>();
let duplicates = 0;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' }).end('{}');
    count++;
    if (!first) first = now;
    last = now;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { dueAt?: string; deliveryId?: string };
      if (body.dueAt) lateness.push(now - Date.parse(body.dueAt));
      if (body.deliveryId) {
        if (seen.has(body.deliveryId)) duplicates++;
        else seen.add(body.deliveryId);
      }
    } catch {
      // not JSON: count only
    }
  });
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
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
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
