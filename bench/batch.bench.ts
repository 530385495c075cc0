/**
 * Notifications accepted per second through `POST /v1/notifications/batch` (1,000 per request)
 * on the real `herald api` process against PostgreSQL, beside a bare multi-row INSERT of the same
 * notification rows (1,000 per statement, each in its own transaction) from this process with the
 * same concurrency, measured in the same run, with the ratio. Goal: ≥ 20,000/s and ≥ 0.5×.
 *
 * Herald does more per notification than the baseline: it validates each item, fans it out into
 * a delivery (one webhook each here) and records its `notification:created` event, all in the same
 * transaction; the baseline writes the notification row only.
 *
 * The two run in interleaved rounds (BENCH_BATCH_ROUNDS, default 3; the order turns each round,
 * the tables emptied before each run): the bare INSERT is bound by commit flushes, and on a
 * shared machine its rate swings by a factor of three between minutes, so one pair of runs says
 * little. The ratio reported is the median of the per-round ratios; each round's line also shows
 * the CPU per notification of the API process (or this process, for the bare INSERT) and of the
 * database's PostgreSQL backends, which holds up better than a rate.
 *
 *   npm run bench -- batch
 */
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { startBenchApi } from './support/api-process.ts';
import { cpuSecondsOf } from './support/proc.ts';
import { createPool, type Pool } from '../src/db/pool.ts';
import { uuidv7 } from '../src/db/ids.ts';
import { waitFor200 } from '../test/helpers/herald-process.ts';

const TOTAL = Number(process.env.HERALD_BENCH_BATCH_TOTAL ?? 100_000);
const ROUNDS = Math.max(1, Number(process.env.BENCH_BATCH_ROUNDS ?? 3));
const PER_REQUEST = 1000;
const IN_FLIGHT = Number(process.env.HERALD_BENCH_BATCH_IN_FLIGHT ?? 4);
const USERS = 1000;

const item = (i: number) => ({ to: { userId: `user-${i % USERS}` }, title: 'Your order shipped', body: `Order ${i} is on its way.`, channels: ['webhook'], data: { order: i } });

/** Run `jobs` calls of `fn` with `IN_FLIGHT` at a time; seconds taken. */
async function timed(jobs: number, fn: (job: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < jobs) await fn(next++);
  }));
  return (performance.now() - started) / 1000;
}

/** One path's run: its rate and CPU µs per notification (the app side, and PostgreSQL). */
interface Run {
  readonly rate: number;
  readonly cpu?: { app: number; postgres: number } | undefined;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const cpuText = (r: Run) => (r.cpu ? `${r.cpu.app.toFixed(1)} + ${r.cpu.postgres.toFixed(1)}` : '–');

const { db, dataDir, apiKey, base, api } = await startBenchApi('batch', { HERALD_MAX_BODY_BYTES: String(4 * 1024 * 1024) });
let pool: Pool | undefined;
try {
  await waitFor200(`${base}/readyz`, api);
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  const requests = Math.ceil(TOTAL / PER_REQUEST);
  const total = requests * PER_REQUEST;
  const bodies = Array.from({ length: requests }, (_, r) => JSON.stringify({ items: Array.from({ length: PER_REQUEST }, (_, i) => item(r * PER_REQUEST + i)) }));
  const send = async (body: string) => {
    const res = await fetch(`${base}/v1/notifications/batch`, { method: 'POST', headers, body });
    const text = await res.text();
    if (res.status !== 200 || text.includes('"error"')) throw new Error(`batch answered ${res.status}: ${text.slice(0, 300)}`);
  };
  // Warm up: JIT, the API key cache, the users, and the pool's connections (opened by requests
  // in flight together, so their backends are there to be measured from the first round).
  for (let i = 0; i < 3; i++) await send(bodies[i]!);
  await Promise.all(bodies.slice(0, 2 * IN_FLIGHT).map(send));

  // The baseline's pool, opened before the first round so its backends are there to be measured.
  pool = createPool(db.url, 20);
  const clients = await Promise.all(Array.from({ length: IN_FLIGHT }, () => pool!.connect()));
  for (const c of clients) c.release();
  const bareRows = (r: number) => Array.from({ length: PER_REQUEST }, (_, i) => {
    const it = item(r * PER_REQUEST + i);
    const { to, channels, ...content } = it;
    return { id: uuidv7(), userIds: [to.userId], channels, payload: JSON.stringify(content) };
  });
  const bareInsert = async (r: number) => {
    const batch = bareRows(r);
    const values: unknown[] = [];
    const tuples = batch.map((row, i) => {
      values.push(row.id, row.userIds, row.channels, row.payload);
      const p = i * 4;
      return `($${p + 1}, 'default', $${p + 2}::text[], $${p + 3}::text[], $${p + 4}::jsonb, now(), 'bench')`;
    });
    const client = await pool!.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO notifications (id, app_id, user_ids, channels, payload, send_at, source) VALUES ${tuples.join(', ')}`, values);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  };

  /** CPU seconds of every backend of the bench's database but this one; undefined if one ended meanwhile. */
  const postgresCpu = async (): Promise<Map<number, number>> => {
    const { rows } = await db.pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
    const out = new Map<number, number>();
    for (const { pid } of rows) {
      const s = cpuSecondsOf(pid);
      if (s !== undefined) out.set(pid, s);
    }
    return out;
  };
  const selfCpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  const measured = async (appCpu: () => number | undefined, run: () => Promise<number>): Promise<Run> => {
    await db.pool.query(`TRUNCATE events, deliveries, notifications CASCADE`);
    const [a0, p0] = [appCpu(), await postgresCpu()];
    const seconds = await run();
    const [a1, p1] = [appCpu(), await postgresCpu()];
    // Backends present at both ends (a backend started during the run would count from zero).
    let pg = 0;
    for (const [pid, s] of p1) if (p0.has(pid)) pg += s - p0.get(pid)!;
    const cpu = a0 !== undefined && a1 !== undefined ? { app: ((a1 - a0) / total) * 1e6, postgres: (pg / total) * 1e6 } : undefined;
    return { rate: total / seconds, cpu };
  };
  const heraldRun = async (): Promise<Run> => {
    const r = await measured(() => cpuSecondsOf(api.child.pid!), () => timed(requests, (r) => send(bodies[r]!)));
    const { rows } = await db.pool.query<{ n: number; d: number; e: number }>(
      `SELECT (SELECT count(*)::int FROM notifications) AS n, (SELECT count(*)::int FROM deliveries) AS d, (SELECT count(*)::int FROM events) AS e`,
    );
    const w = rows[0]!;
    if (w.n !== total || w.d !== total || w.e !== total) throw new Error(`herald stored ${w.n} notifications, ${w.d} deliveries, ${w.e} events; expected ${total} each`);
    return r;
  };
  const bareRun = () => measured(selfCpu, () => timed(requests, bareInsert));

  console.log(`\nBatch creation: ${fmt(total)} notifications, ${PER_REQUEST} per request/statement, ${IN_FLIGHT} in flight, ${ROUNDS} interleaved round(s), PostgreSQL at ${new URL(db.url).host}`);
  console.log('| round | load | herald notifications/s | CPU µs per notification, API + PostgreSQL | bare INSERT notifications/s | CPU µs, this process + PostgreSQL | ratio |');
  console.log('|---:|---:|---:|---|---:|---|---:|');
  const rounds: { herald: Run; bare: Run }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const load = loadavg()[0]!.toFixed(1);
    let herald: Run;
    let bare: Run;
    if (round % 2 === 0) {
      herald = await heraldRun();
      bare = await bareRun();
    } else {
      bare = await bareRun();
      herald = await heraldRun();
    }
    rounds.push({ herald, bare });
    console.log(`| ${round + 1} | ${load} | ${fmt(herald.rate)} | ${cpuText(herald)} | ${fmt(bare.rate)} | ${cpuText(bare)} | ${(herald.rate / bare.rate).toFixed(2)} |`);
  }
  const ratio = median(rounds.map((r) => r.herald.rate / r.bare.rate));
  const mid = rounds.find((r) => r.herald.rate / r.bare.rate === ratio)!;
  console.log(`\n| path | notifications/s (median round) | × bare INSERT (median of the rounds) | goal |`);
  console.log('|---|---:|---:|---|');
  console.log(`| POST /v1/notifications/batch (herald api; + one delivery and one event each) | ${fmt(mid.herald.rate)} | ${ratio.toFixed(2)} | ≥ 20,000/s, ≥ 0.5× |`);
  console.log(`| bare multi-row INSERT INTO notifications, no HTTP (baseline) | ${fmt(mid.bare.rate)} | 1.00 | |`);
  console.log(`SUMMARY ${JSON.stringify({ figure: 'notifications/s accepted, batch of 1,000', value: Math.round(mid.herald.rate), baseline: 'bare multi-row INSERT', baselineValue: Math.round(mid.bare.rate), ratio: Number(ratio.toFixed(2)), goal: '≥ 20,000/s and ≥ 0.5×' })}`);
} finally {
  await pool?.end();
  if (api.child.exitCode === null) {
    api.child.kill('SIGTERM');
    await api.exited;
  }
  await db.close();
  await rm(dataDir, { recursive: true, force: true });
}
