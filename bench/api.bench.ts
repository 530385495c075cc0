/**
 * The HTTP API under load, and how fast `herald start` is ready.
 *
 * 1. Requests/s and p99 latency of POST /v1/notifications and of POST and GET (list) reminders
 *    on the real `herald api` process against PostgreSQL, beside two baselines measured in the
 *    same run, with ratios: GET /healthz (HTTP without the database) and a bare PostgreSQL
 *    transaction at the same concurrency (the database without HTTP): BEGIN; one INSERT of a
 *    notification row; COMMIT. Goal for the notification POST: ≥ 0.7× that transaction.
 *    autocannon runs in this process, herald in its own.
 *    Beside the rates: the CPU each request cost, of the API process and of the PostgreSQL
 *    backends of the database (or of this process and its backends for the bare transaction),
 *    read from /proc when PostgreSQL runs on this host — steadier than a rate on a shared machine.
 * 2. `herald start` on the embedded default: time from spawn to /readyz 200 on a fresh data
 *    directory (initdb included) and again on the same directory (warm).
 *
 *   npm run bench -- api
 *   HERALD_BENCH_API_SECONDS=10 HERALD_BENCH_API_CONNECTIONS=50   (defaults)
 *   BENCH_HERALD_BEFORE=<root of another build>[,<another>]   their POST /v1/notifications too, same run
 */
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import autocannon from 'autocannon';
import { spawnBenchApi, startBenchApi } from './support/api-process.ts';
import { cpuSecondsOf as cpuSeconds } from './support/proc.ts';
import { createPool } from '../src/db/pool.ts';
import { uuidv7 } from '../src/db/ids.ts';
import { freePort, spawnHerald, tempDir, waitFor200, type HeraldProcess } from '../test/helpers/herald-process.ts';

const DURATION = Number(process.env.HERALD_BENCH_API_SECONDS ?? 10);
/** HERALD_BENCH_API_STARTUP=0 skips part 2 (start-up time), which needs an embedded PostgreSQL. */
const STARTUP = process.env.HERALD_BENCH_API_STARTUP !== '0';
const CONNECTIONS = Number(process.env.HERALD_BENCH_API_CONNECTIONS ?? 50);
/** Roots of other builds of herald (comma-separated) whose POST /v1/notifications is measured first (before/after in one run). */
const BEFORE = process.env.BENCH_HERALD_BEFORE;

interface Figures {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
  /** CPU ms per request: the API process (or this process) and the database's PostgreSQL backends. */
  cpu?: { app: number; postgres: number } | undefined;
}

const loadAverage = () => loadavg()[0]!.toFixed(1);

/** CPU seconds of every backend of the bench's database (those started since count from zero). */
async function postgresCpu(): Promise<number | undefined> {
  const { rows } = await db.pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
  let total = 0;
  for (const { pid } of rows) {
    const s = await cpuSeconds(pid);
    if (s === undefined) return undefined;
    total += s;
  }
  return total;
}

/** CPU of `app` (a pid, or this process) and of PostgreSQL while `run` runs, per request. */
async function measureCpu<T>(app: number | 'self', run: () => Promise<T>, requests: (r: T) => number): Promise<{ result: T; cpu: Figures['cpu'] }> {
  const appCpu = async () => (app === 'self' ? (process.cpuUsage().user + process.cpuUsage().system) / 1e6 : cpuSeconds(app));
  const [a0, p0] = [await appCpu(), await postgresCpu()];
  const result = await run();
  const [a1, p1] = [await appCpu(), await postgresCpu()];
  const n = requests(result);
  const cpu = a0 !== undefined && a1 !== undefined && p0 !== undefined && p1 !== undefined && n > 0 ? { app: ((a1 - a0) / n) * 1000, postgres: ((p1 - p0) / n) * 1000 } : undefined;
  return { result, cpu };
}

async function load(name: string, options: autocannon.Options, pid?: number): Promise<Figures> {
  const { result, cpu } = await measureCpu(pid ?? 'self', () => autocannon({ connections: CONNECTIONS, duration: DURATION, ...options }), (r) => r.requests.total);
  return {
    name,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    requests: result.requests.total,
    cpu: pid === undefined ? undefined : cpu,
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

const loadAtStart = loadAverage();
const rows: Figures[] = [];
rows.push(await load('GET /healthz (baseline, no database)', { url: `${base}/healthz` }, api.child.pid));
// Spread the writes over 1,000 users, as real traffic would be, so the list below reads a realistic page.
let n = 0;
// A notification to one user on one channel: one notification row, one delivery, one event.
const notification = (i: number) => JSON.stringify({ to: { userId: `user-${i % 1000}` }, title: 'Your order shipped', body: `Order ${i} is on its way.`, channels: ['webhook'] });
const posts = (url: string, key: string) => ({
  url,
  requests: [{ method: 'POST' as const, path: '/v1/notifications', headers: { ...headers, authorization: `Bearer ${key}` }, setupRequest: (req: autocannon.Request) => ({ ...req, body: notification(n++) }) }],
});
for (const root of BEFORE?.split(',') ?? []) {
  // The other builds first, on the same database, warmed up the same way.
  const other = await spawnBenchApi(db, 'api-before', {}, root);
  await waitFor200(`${other.base}/readyz`, other.api);
  await autocannon({ ...posts(other.base, other.apiKey), connections: 10, duration: 2 });
  rows.push(await load(`POST /v1/notifications, another build (${root})`, posts(other.base, other.apiKey), other.api.child.pid));
  await stop(other.api);
  await rm(other.dataDir, { recursive: true, force: true });
}
await autocannon({ ...posts(base, apiKey), connections: 10, duration: 2 });
rows.push(await load('POST /v1/notifications', posts(base, apiKey), api.child.pid));
// The baseline right after, so both see about the same load on a shared machine.
const floor = await bareTransactions();
rows.push(
  await load('POST /v1/users/{id}/reminders', {
    url: base,
    requests: [{ method: 'POST', headers, body: reminder, setupRequest: (req) => ({ ...req, path: `/v1/users/user-${n++ % 1000}/reminders` }) }],
  }, api.child.pid),
);
rows.push(
  await load('GET /v1/users/{id}/reminders (list of 20)', {
    url: base,
    requests: [{ method: 'GET', headers, setupRequest: (req) => ({ ...req, path: `/v1/users/user-${n++ % 1000}/reminders?limit=20` }) }],
  }, api.child.pid),
);
await stop(api);

/**
 * Second baseline: the database's floor for a write, a bare transaction (BEGIN; one INSERT of a
 * notification row; COMMIT) from this process with the same concurrency and pool size as the
 * API, no HTTP. A POST can at best approach this.
 */
async function bareTransactions(): Promise<Figures> {
  const pool = createPool(db.url, 20);
  await pool.query('SELECT 1');
  const { result, cpu } = await measureCpu('self', () => bareRun(pool), (r) => r.requests);
  await pool.end();
  return { ...result, cpu };
}
async function bareRun(pool: ReturnType<typeof createPool>): Promise<Figures> {
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
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!);
  return { name: 'bare PostgreSQL transaction (BEGIN; INSERT a notification row; COMMIT), no HTTP', rps: latencies.length / DURATION, p50: at(0.5), p99: at(0.99), errors: 0, requests: latencies.length };
}
const { rows: stored } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM reminders`);
await db.close();
await rm(dataDir, { recursive: true, force: true });

const baseline = rows[0]!;
console.log(`\nAPI throughput: ${CONNECTIONS} connections, ${DURATION} s each, herald api in its own process, PostgreSQL at ${new URL(db.url).host}, load average (1 min) ${loadAtStart} at the start, ${loadAverage()} at the end`);
console.log('| request | requests/s | p50 ms | p99 ms | non-2xx/errors | × /healthz | × bare transaction | CPU ms per request: API (or bench) process + PostgreSQL |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
const cpuText = (c: Figures['cpu']) => (c ? `${c.app.toFixed(3)} + ${c.postgres.toFixed(3)}` : '–');
for (const r of [...rows, floor]) {
  console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors} | ${(r.rps / baseline.rps).toFixed(2)} | ${(r.rps / floor.rps).toFixed(2)} | ${cpuText(r.cpu)} |`);
}
console.log(`(${stored[0]?.n ?? 0} reminders stored during the run)`);
const post = rows.find((r) => r.name === 'POST /v1/notifications')!;
console.log(`SUMMARY ${JSON.stringify({ figure: `POST /v1/notifications requests/s (load ${loadAtStart})`, value: Math.round(post.rps), baseline: 'bare BEGIN; INSERT; COMMIT', baselineValue: Math.round(floor.rps), ratio: Number((post.rps / floor.rps).toFixed(2)), goal: '≥ 0.7×' })}`);

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
