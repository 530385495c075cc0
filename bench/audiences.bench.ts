// Audiences benchmark (docs/audiences.md; TARGETS.md "Fan-out and rendering"). Herald's fan-out
// runs in its own process (`herald scheduler`, the BroadcastFanOut loop) and its deliveries are
// sent by another (`herald worker`, inbox channel: each delivery stores an inbox item and its
// events). The baseline is one bare `INSERT … SELECT` of the same delivery rows, in the same run
// against the same tables and indexes.
//
//   1. one broadcast to a topic of N subscribers (BENCH_AUDIENCE, default 1,000,000): time until
//      every delivery row exists (fan-out rate) and until all are sent, peak RSS of both processes
//   2. B broadcasts of M subscribers each (BENCH_BROADCASTS × BENCH_BROADCAST_SIZE, default
//      1,000 × 1,000): time until every delivery row exists
//
// The fan-out runs alone (as the bare insert does), then a worker sends what it made.
// BENCH_SEND_SECONDS (default 600) bounds the wait for "all sent" in scenario 1. The 1,000,000
// case is the default: `npm run bench -- audiences` (about 15 minutes on a 2-core machine; set
// BENCH_AUDIENCE=100000 for a quicker look). SUMMARY lines carry the fan-out rates beside the
// bare insert, the time until all are sent and the peak RSS for the summary table.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { NotificationService } from '../src/notifications/service.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.BENCH_AUDIENCE ?? 1_000_000);
const B = Number(process.env.BENCH_BROADCASTS ?? 1000);
const M = Number(process.env.BENCH_BROADCAST_SIZE ?? 1000);
const SEND_SECONDS = Number(process.env.BENCH_SEND_SECONDS ?? 600);
const FANOUT_SECONDS = Number(process.env.BENCH_FANOUT_SECONDS ?? 3600);

function herald(db: TestDatabase, role: string, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [path.join(ROOT, 'bin/herald.js'), role], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HERALD_DATABASE_URL: db.url, HERALD_SECRET_KEY: randomBytes(32).toString('hex'), HERALD_LOG_LEVEL: 'warn', HERALD_PORT: '0', ...env },
  });
}

/** Peak resident set (VmHWM) of a live process, in MB. */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
const fmt = (n: number) => n.toLocaleString('en');
const round2 = (n: number) => Number(n.toFixed(2));
const summary = (line: Record<string, unknown>) => console.log(`SUMMARY ${JSON.stringify(line)}`);

async function seed(db: TestDatabase): Promise<void> {
  const t = Date.now();
  await db.pool.query(`INSERT INTO users (id) SELECT 'u' || lpad(i::text, 7, '0') FROM generate_series(1, $1::int) i`, [Math.max(N, B * M)]);
  await db.pool.query(`INSERT INTO topics (app_id, key) VALUES ('default', 'big')`);
  await db.pool.query(`INSERT INTO topic_subscriptions (app_id, topic_key, user_id) SELECT 'default', 'big', 'u' || lpad(i::text, 7, '0') FROM generate_series(1, $1::int) i`, [N]);
  await db.pool.query(`INSERT INTO topics (app_id, key) SELECT 'default', 'b' || i FROM generate_series(0, $1::int - 1) i`, [B]);
  await db.pool.query(
    `INSERT INTO topic_subscriptions (app_id, topic_key, user_id) SELECT 'default', 'b' || ((i - 1) / $2::int), 'u' || lpad(i::text, 7, '0') FROM generate_series(1, $1::int * $2::int) i`,
    [B, M],
  );
  await db.pool.query(`VACUUM ANALYZE`);
  console.log(`seeded ${fmt(Math.max(N, B * M))} users, a topic of ${fmt(N)} and ${fmt(B)} topics of ${fmt(M)} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

/** The baseline: the same delivery rows from one bare INSERT … SELECT, then removed. */
async function bareInsert(db: TestDatabase, where: string, expected: number): Promise<number> {
  await db.pool.query(`INSERT INTO notifications (id, channels, payload, send_at) VALUES ('bare', '{inbox}', '{}', now()) ON CONFLICT DO NOTHING`);
  const t = performance.now();
  const { rowCount } = await db.pool.query(
    `INSERT INTO deliveries (notification_id, user_id, device_id, app_id, channel, provider, due_at, run_at, expires_at)
     SELECT 'bare', s.user_id, NULL, 'default', 'inbox', 'inbox', now(), now(), NULL FROM topic_subscriptions s WHERE ${where}`,
  );
  const ms = performance.now() - t;
  if (rowCount !== expected) throw new Error(`bare insert made ${rowCount}, expected ${expected}`);
  await db.pool.query(`TRUNCATE deliveries`);
  await db.pool.query(`VACUUM ANALYZE deliveries`);
  return ms;
}

async function main(): Promise<void> {
  const db = await createTestDatabase(4);
  const service = new NotificationService(db.pool);
  try {
    await seed(db);

    // 1. One broadcast to N.
    const bareMs = await bareInsert(db, `s.app_id = 'default' AND s.topic_key = 'big'`, N);
    const scheduler = herald(db, 'scheduler');
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = performance.now();
    const { id } = await service.create({ to: { topic: 'big' }, channels: ['inbox'], title: 'Kick-off' }, { source: 'bench' });
    let fannedMs = 0;
    let sentMs = 0;
    await until(async () => {
      if (!fannedMs) {
        const { rows } = await db.pool.query(`SELECT status FROM broadcasts WHERE notification_id = $1`, [id]);
        if (rows[0]?.status === 'complete') fannedMs = performance.now() - t0;
      }
      return fannedMs > 0;
    }, FANOUT_SECONDS * 1000);
    const schedulerRss = await peakRss(scheduler.pid!);
    const worker = herald(db, 'worker', { HERALD_WORKER_CHANNELS: 'inbox' });
    const allSent = await until(async () => {
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM deliveries WHERE notification_id = $1 AND status = 'sent'`, [id]);
      if (rows[0].n === N) sentMs = performance.now() - t0;
      return sentMs > 0;
    }, SEND_SECONDS * 1000);
    const { rows: sentRows } = await db.pool.query(`SELECT count(*)::int AS n FROM deliveries WHERE notification_id = $1 AND status = 'sent'`, [id]);
    const workerRss = await peakRss(worker.pid!);
    const sentElapsed = allSent ? sentMs : performance.now() - t0;
    await stop(worker);
    await stop(scheduler);
    console.log(`\n## broadcast to ${fmt(N)} topic subscribers (inbox channel)`);
    console.log(`bare INSERT … SELECT of the same rows: ${(bareMs / 1000).toFixed(1)} s, ${fmt(rate(N, bareMs))} rows/s`);
    console.log(`herald fan-out (every delivery row exists): ${(fannedMs / 1000).toFixed(1)} s, ${fmt(rate(N, fannedMs))} rows/s = ${(bareMs / fannedMs).toFixed(2)}× the bare insert`);
    const sendMs = sentElapsed - fannedMs;
    console.log(`herald until all sent (fan-out, then one \`herald worker\`): ${allSent ? '' : `not done after ${SEND_SECONDS} s of sending: `}${fmt(sentRows[0].n)} sent ${(sentElapsed / 1000).toFixed(1)} s after the POST; sending ${fmt(rate(sentRows[0].n, sendMs))}/s`);
    console.log(`peak RSS: scheduler (fan-out) ${schedulerRss.toFixed(0)} MB, worker ${workerRss.toFixed(0)} MB`);
    summary({ figure: `broadcast to ${fmt(N)}: fan-out rows/s`, value: rate(N, fannedMs), baseline: 'bare INSERT … SELECT', baselineValue: rate(N, bareMs), ratio: round2(bareMs / fannedMs), goal: '≥ 0.5×' });
    summary({ figure: `broadcast to ${fmt(N)}: s until all sent (one worker)`, value: allSent ? round2(sentElapsed / 1000) : `> ${round2(sentElapsed / 1000)}`, baseline: 'none', baselineValue: null, ratio: null, goal: 'reported' });
    summary({ figure: `broadcast to ${fmt(N)}: peak RSS MB (scheduler / worker)`, value: `${schedulerRss.toFixed(0)} / ${workerRss.toFixed(0)}`, baseline: 'none', baselineValue: null, ratio: null, goal: '< 300 MB' });

    // 2. B broadcasts of M.
    await db.pool.query(`TRUNCATE deliveries, inbox_items`);
    await db.pool.query(`VACUUM ANALYZE`);
    const bare2Ms = await bareInsert(db, `s.app_id = 'default' AND s.topic_key LIKE 'b%' AND s.topic_key <> 'big'`, B * M);
    const scheduler2 = herald(db, 'scheduler');
    await new Promise((r) => setTimeout(r, 1500));
    const t1 = performance.now();
    for (let i = 0; i < B; i += 100) {
      await service.createMany(Array.from({ length: Math.min(100, B - i) }, (_, j) => ({ to: { topic: `b${i + j}` }, channels: ['inbox' as const], title: 'News' })), { source: 'bench' });
    }
    const createdMs = performance.now() - t1;
    await until(async () => {
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM broadcasts WHERE status = 'complete' AND topic_key LIKE 'b%' AND topic_key <> 'big'`);
      return rows[0].n === B;
    }, FANOUT_SECONDS * 1000);
    const many = performance.now() - t1;
    const rss2 = await peakRss(scheduler2.pid!);
    await stop(scheduler2);
    const { rows: made } = await db.pool.query(`SELECT count(*)::int AS n FROM deliveries WHERE notification_id <> 'bare'`);
    console.log(`\n## ${fmt(B)} broadcasts × ${fmt(M)} subscribers`);
    console.log(`bare INSERT … SELECT of the same rows: ${(bare2Ms / 1000).toFixed(1)} s, ${fmt(rate(B * M, bare2Ms))} rows/s`);
    console.log(`herald: ${fmt(B)} broadcasts accepted in ${(createdMs / 1000).toFixed(1)} s; ${fmt(made[0].n)} delivery rows in ${(many / 1000).toFixed(1)} s, ${fmt(rate(made[0].n, many))} rows/s = ${(bare2Ms / many).toFixed(2)}× the bare insert; scheduler peak RSS ${rss2.toFixed(0)} MB`);
    summary({ figure: `${fmt(B)} broadcasts × ${fmt(M)}: fan-out rows/s`, value: rate(made[0].n, many), baseline: 'bare INSERT … SELECT', baselineValue: rate(B * M, bare2Ms), ratio: round2(bare2Ms / many), goal: 'reported' });
  } finally {
    await db.close();
  }
}

await main();
