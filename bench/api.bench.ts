/**
 * The HTTP API under load, and how fast `herald start` is ready.
 *
 * 1. Requests/s and p99 latency of POST /v1/notifications and of POST and GET (list) reminders
 *    on the real `herald api` process against PostgreSQL, beside two baselines measured in the
 *    same run, with ratios: GET /healthz (HTTP without the database) and a bare PostgreSQL
 *    transaction at the same concurrency (the database without HTTP): BEGIN; one INSERT of a
 *    notification row; COMMIT. Goal for the notification POST: ≥ 0.7× that transaction.
 *    autocannon runs in this process, herald in its own.
 * 2. `herald start` on the embedded default: time from spawn to /readyz 200 on a fresh data
 *    directory (initdb included) and again on the same directory (warm).
 *
 *   npm run bench -- api
 */
import { rm } from 'node:fs/promises';
import autocannon from 'autocannon';
import { startBenchApi } from './support/api-process.ts';
import { createPool } from '../src/db/pool.ts';
import { uuidv7 } from '../src/db/ids.ts';
import { freePort, spawnHerald, tempDir, waitFor200, type HeraldProcess } from '../test/helpers/herald-process.ts';

const DURATION = Number(process.env.HERALD_BENCH_API_SECONDS ?? 10);
/** HERALD_BENCH_API_STARTUP=0 skips part 2 (start-up time), which needs an embedded PostgreSQL. */
const STARTUP = process.env.HERALD_BENCH_API_STARTUP !== '0';
const CONNECTIONS = Number(process.env.HERALD_BENCH_API_CONNECTIONS ?? 50);

interface Figures {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
}

async function load(name: string, options: autocannon.Options): Promise<Figures> {
  const result = await autocannon({ connections: CONNECTIONS, duration: DURATION, ...options });
  return {
    name,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    requests: result.requests.total,
  };
}

async function stop(proc: HeraldProcess): Promise<void> {
  proc.child.kill('SIGTERM');
  const code = await proc.exited;
  if (code !== 0) console.log(`herald exited with ${code} (${proc.child.signalCode}):\n${proc.output().slice(-2000)}`);
}

// ---- 1. throughput

const { db, dataDir, apiKey, base, api } = await startBenchApi('api');
await waitFor200(`${base}/readyz`, api);
const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
const reminder = JSON.stringify({ date: '2099-06-01T09:00:00Z', message: 'Stand-up', title: 'Reminder', notifyOffset: 10, recurrence: 'FREQ=WEEKLY;BYDAY=MO,WE', timezone: 'Europe/Berlin' });

// Warm up connections, JIT and the API key cache.
await autocannon({ url: `${base}/healthz`, connections: 10, duration: 2 });
await autocannon({ url: `${base}/v1/users/warm/reminders`, method: 'POST', headers, body: reminder, connections: 10, duration: 2 });

const rows: Figures[] = [];
rows.push(await load('GET /healthz (baseline, no database)', { url: `${base}/healthz` }));
// Spread the writes over 1,000 users, as real traffic would be, so the list below reads a realistic page.
let n = 0;
// A notification to one user on one channel: one notification row, one delivery, one event.
const notification = (i: number) => JSON.stringify({ to: { userId: `user-${i % 1000}` }, title: 'Your order shipped', body: `Order ${i} is on its way.`, channels: ['webhook'] });
await autocannon({ url: base, connections: 10, duration: 2, requests: [{ method: 'POST', path: '/v1/notifications', headers, setupRequest: (req) => ({ ...req, body: notification(n++) }) }] });
rows.push(
  await load('POST /v1/notifications', {
    url: base,
    requests: [{ method: 'POST', path: '/v1/notifications', headers, setupRequest: (req) => ({ ...req, body: notification(n++) }) }],
  }),
);
rows.push(
  await load('POST /v1/users/{id}/reminders', {
    url: base,
    requests: [{ method: 'POST', headers, body: reminder, setupRequest: (req) => ({ ...req, path: `/v1/users/user-${n++ % 1000}/reminders` }) }],
  }),
);
rows.push(
  await load('GET /v1/users/{id}/reminders (list of 20)', {
    url: base,
    requests: [{ method: 'GET', headers, setupRequest: (req) => ({ ...req, path: `/v1/users/user-${n++ % 1000}/reminders?limit=20` }) }],
  }),
);
await stop(api);

/**
 * Second baseline: the database's floor for a write, a bare transaction (BEGIN; one INSERT of a
 * notification row; COMMIT) from this process with the same concurrency and pool size as the
 * API, no HTTP. A POST can at best approach this.
 */
async function bareTransactions(): Promise<Figures> {
  const pool = createPool(db.url, 20);
  const latencies: number[] = [];
  const until = performance.now() + DURATION * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, worker) => {
      for (let i = 0; performance.now() < until; i++) {
        const started = performance.now();
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await client.query(
            `INSERT INTO notifications (id, app_id, user_ids, channels, payload, send_at, source) VALUES ($1, 'default', $2, $3, $4::jsonb, now(), 'bench')`,
            [uuidv7(), [`user-${(worker * 7919 + i) % 1000}`], ['webhook'], notification(i)],
          );
          await client.query('COMMIT');
        } finally {
          client.release();
        }
        latencies.push(performance.now() - started);
      }
    }),
  );
  await pool.end();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!);
  return { name: 'bare PostgreSQL transaction (BEGIN; INSERT a notification row; COMMIT), no HTTP', rps: latencies.length / DURATION, p50: at(0.5), p99: at(0.99), errors: 0, requests: latencies.length };
}
const floor = await bareTransactions();
const { rows: stored } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM reminders`);
await db.close();
await rm(dataDir, { recursive: true, force: true });

const baseline = rows[0]!;
console.log(`\nAPI throughput: ${CONNECTIONS} connections, ${DURATION} s each, herald api in its own process, PostgreSQL at ${new URL(db.url).host}`);
console.log('| request | requests/s | p50 ms | p99 ms | non-2xx/errors | × /healthz | × bare transaction |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of [...rows, floor]) {
  console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors} | ${(r.rps / baseline.rps).toFixed(2)} | ${(r.rps / floor.rps).toFixed(2)} |`);
}
console.log(`(${stored[0]?.n ?? 0} reminders stored during the run)`);
const post = rows.find((r) => r.name === 'POST /v1/notifications')!;
console.log(`SUMMARY ${JSON.stringify({ figure: 'POST /v1/notifications requests/s', value: Math.round(post.rps), baseline: 'bare BEGIN; INSERT; COMMIT', baselineValue: Math.round(floor.rps), ratio: Number((post.rps / floor.rps).toFixed(2)), goal: '≥ 0.7×' })}`);

// ---- 2. start-up time on the embedded default

async function startUp(dir: string): Promise<number> {
  const p = await freePort();
  const started = performance.now();
  const proc = spawnHerald(['start'], { HERALD_DATA_DIR: dir, HERALD_PORT: String(p), HERALD_HOST: '127.0.0.1', HERALD_LOG_LEVEL: 'info' });
  await waitFor200(`http://127.0.0.1:${p}/readyz`, proc, 180_000);
  const ms = performance.now() - started;
  // /readyz answers once the api role listens; the other roles may still be starting, and
  // herald handles SIGTERM only after all have started.
  while (!proc.output().includes('"herald is running"') && proc.child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  await stop(proc);
  return ms;
}

const embeddedDir = await tempDir('herald-bench-start-');
if (STARTUP) try {
  const first = await startUp(embeddedDir);
  const warm = await startUp(embeddedDir);
  const warm2 = await startUp(embeddedDir);
  console.log('\n`herald start` on the embedded default, spawn → /readyz 200');
  console.log('| run | ms | × warm |');
  console.log('|---|---:|---:|');
  console.log(`| first (fresh data directory: initdb, migrations, keys) | ${first.toFixed(0)} | ${(first / warm).toFixed(2)} |`);
  console.log(`| warm (same directory) | ${warm.toFixed(0)} | 1.00 |`);
  console.log(`| warm again | ${warm2.toFixed(0)} | ${(warm2 / warm).toFixed(2)} |`);
} finally {
  await rm(embeddedDir, { recursive: true, force: true });
}
