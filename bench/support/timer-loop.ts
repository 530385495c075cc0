// The baseline: an in-memory timer loop with no durability (the ceiling a durable engine is
// measured against). N jobs due at the given instants each POST the same webhook body herald
// sends, through the same HTTP client settings, with at most CONCURRENCY in flight.
import { Agent, request } from 'undici';

const [url, countArg, dueArg, spacingArg, concurrencyArg] = process.argv.slice(2);
const count = Number(countArg);
const due0 = Number(dueArg);
const spacing = Number(spacingArg ?? 0);
const concurrency = Number(concurrencyArg ?? 1000);
const agent = new Agent({ connections: 128, keepAliveTimeout: 30_000, pipelining: 1 });
let inflight = 0;
let done = 0;
const queue: number[] = [];

function pump(): void {
  while (inflight < concurrency && queue.length > 0) {
    const i = queue.shift()!;
    inflight++;
    const body = JSON.stringify({ deliveryId: String(i), notificationId: `n${i}`, title: `n${i}`, dueAt: new Date(due0 + i * spacing).toISOString() });
    request(url!, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher: agent })
      .then((res) => res.body.dump())
      .catch(() => undefined)
      .finally(() => {
        inflight--;
        done++;
        if (done === count) void agent.close().then(() => process.exit(0));
        else pump();
      });
  }
}

if (spacing === 0) {
  setTimeout(() => {
    for (let i = 0; i < count; i++) queue.push(i);
    pump();
  }, Math.max(0, due0 - Date.now()));
} else {
  for (let i = 0; i < count; i++) {
    setTimeout(() => {
      queue.push(i);
      pump();
    }, Math.max(0, due0 + i * spacing - Date.now()));
  }
}
