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
 *   npm run bench -- batch
 */
import { rm } from 'node:fs/promises';
import { startBenchApi } from './support/api-process.ts';
import { createPool } from '../src/db/pool.ts';
import { uuidv7 } from '../src/db/ids.ts';
import { waitFor200 } from '../test/helpers/herald-process.ts';

const TOTAL = Number(process.env.HERALD_BENCH_BATCH_TOTAL ?? 100_000);
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

const { db, dataDir, apiKey, base, api } = await startBenchApi('batch', { HERALD_MAX_BODY_BYTES: String(4 * 1024 * 1024) });
try {
  await waitFor200(`${base}/readyz`, api);
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  const requests = Math.ceil(TOTAL / PER_REQUEST);
  const bodies = Array.from({ length: requests }, (_, r) => JSON.stringify({ items: Array.from({ length: PER_REQUEST }, (_, i) => item(r * PER_REQUEST + i)) }));
  const send = async (body: string) => {
    const res = await fetch(`${base}/v1/notifications/batch`, { method: 'POST', headers, body });
    const text = await res.text();
    if (res.status !== 200 || text.includes('"error"')) throw new Error(`batch answered ${res.status}: ${text.slice(0, 300)}`);
  };
  // Warm up: JIT, the API key cache, the pool, the users.
  for (let i = 0; i < 3; i++) await send(bodies[i]!);
  await db.pool.query(`TRUNCATE events, deliveries, notifications CASCADE`);

  const apiSeconds = await timed(requests, (r) => send(bodies[r]!));
  const { rows: written } = await db.pool.query<{ n: number; d: number; e: number }>(
    `SELECT (SELECT count(*)::int FROM notifications) AS n, (SELECT count(*)::int FROM deliveries) AS d, (SELECT count(*)::int FROM events) AS e`,
  );
  api.child.kill('SIGTERM');
  await api.exited;

  // Baseline: the same notification rows, a multi-row INSERT of 1,000 per transaction.
  const pool = createPool(db.url, 20);
  const rows = (r: number) => Array.from({ length: PER_REQUEST }, (_, i) => {
    const it = item(r * PER_REQUEST + i);
    const { to, channels, ...content } = it;
    return { id: uuidv7(), userIds: [to.userId], channels, payload: JSON.stringify(content) };
  });
  const bareSeconds = await timed(requests, async (r) => {
    const batch = rows(r);
    const values: unknown[] = [];
    const tuples = batch.map((row, i) => {
      values.push(row.id, row.userIds, row.channels, row.payload);
      const p = i * 4;
      return `($${p + 1}, 'default', $${p + 2}::text[], $${p + 3}::text[], $${p + 4}::jsonb, now(), 'bench')`;
    });
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO notifications (id, app_id, user_ids, channels, payload, send_at, source) VALUES ${tuples.join(', ')}`, values);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  });
  await pool.end();

  const total = requests * PER_REQUEST;
  const herald = total / apiSeconds;
  const bare = total / bareSeconds;
  const w = written[0]!;
  console.log(`\nBatch creation: ${total} notifications, ${PER_REQUEST} per request/statement, ${IN_FLIGHT} in flight, PostgreSQL at ${new URL(db.url).host}`);
  console.log('| path | notifications/s | × bare INSERT | goal |');
  console.log('|---|---:|---:|---|');
  console.log(`| POST /v1/notifications/batch (herald api; + ${w.d} deliveries, ${w.e} events) | ${herald.toFixed(0)} | ${(herald / bare).toFixed(2)} | ≥ 20,000/s, ≥ 0.5× |`);
  console.log(`| bare multi-row INSERT INTO notifications, no HTTP (baseline) | ${bare.toFixed(0)} | 1.00 | |`);
  if (w.n !== total) console.log(`!! herald stored ${w.n} notifications, expected ${total}`);
  console.log(`SUMMARY ${JSON.stringify({ figure: 'notifications/s accepted, batch of 1,000', value: Math.round(herald), baseline: 'bare multi-row INSERT', baselineValue: Math.round(bare), ratio: Number((herald / bare).toFixed(2)), goal: '≥ 20,000/s and ≥ 0.5×' })}`);
} finally {
  if (api.child.exitCode === null) {
    api.child.kill('SIGTERM');
    await api.exited;
  }
  await db.close();
  await rm(dataDir, { recursive: true, force: true });
}
