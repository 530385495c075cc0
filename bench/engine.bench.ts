// The delivery engine benchmark (issue: scheduler and delivery engine; TARGETS.md "Scheduled
// delivery"). Herald's worker runs as its own process (`herald worker`) against PostgreSQL and
// delivers webhooks to a keep-alive sink in another process; the baseline is an in-memory timer
// loop (no durability: the ceiling) posting the same bodies to the same sink, in the same run.
//
//   1. burst: N notifications due at one instant → time to drain (all recorded `sent` in
//      PostgreSQL), deliveries/s, lateness p50/p99/max at the sink
//   2. steady: R per second for S seconds (due times spread 1/R apart) → lateness p50/p99/max
//   3. 1,000,000 pending future notifications → the idle worker's RSS and the cost of one
//      scheduling pass (claim + next-due query) with them in the table
//
// Sizes: BENCH_BURST (100000), BENCH_STEADY_RATE (1000), BENCH_STEADY_SECONDS (60),
// BENCH_PENDING (1000000); BENCH_SCENARIOS=burst,steady,kill,pending picks some;
// BENCH_WORKER_PROF=<dir> writes a CPU profile of each herald worker process there.
// BENCH_BURST_ROUNDS=<n> (1) runs the burst's engines n times, interleaved (the order turns by
// one each round): the ratios are then the medians of the per-round ratios, each against the
// peer's run of the same round, and the other rows come from the round with the median ratio to
// the plain table — steadier on a machine whose other load comes and goes.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { NotificationService } from '../src/notifications/service.ts';
import { claimDue, nextRunAt } from '../src/dispatch/repository.ts';
import { Sink, type SinkReport } from './support/sink-process.ts';
import { cpuSeconds, loadAverage } from './support/proc.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BURST = Number(process.env.BENCH_BURST ?? 100_000);
const RATE = Number(process.env.BENCH_STEADY_RATE ?? 1000);
const STEADY_SECONDS = Number(process.env.BENCH_STEADY_SECONDS ?? 60);
const PENDING = Number(process.env.BENCH_PENDING ?? 1_000_000);
/** Scenarios to run: burst, steady, kill, pending (default all). */
const ONLY = new Set((process.env.BENCH_SCENARIOS ?? 'burst,steady,kill,pending').split(','));
/** The root of another build of herald to run first in the burst (before/after comparisons in one run). */
const BEFORE = process.env.BENCH_HERALD_BEFORE;
/** Durable peers beside the plain SKIP LOCKED table: BENCH_PEERS=graphile (default) or none. */
const PEERS = new Set((process.env.BENCH_PEERS ?? 'graphile').split(','));
const BURST_ROUNDS = Math.max(1, Number(process.env.BENCH_BURST_ROUNDS ?? 1));

function startWorker(db: TestDatabase, sinkUrl: string, root = ROOT): ChildProcess {
  // The compiled build, as production runs it (scripts/bench.js builds first).
  // BENCH_WORKER_PROF=<dir>: write a CPU profile of each herald worker there (node --cpu-prof).
  const prof = process.env.BENCH_WORKER_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_WORKER_PROF}`] : [];
  return spawn(process.execPath, [...prof, path.join(root, 'bin/herald.js'), 'worker'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      HERALD_DATABASE_URL: db.url,
      HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
      HERALD_WEBHOOK_URL: sinkUrl,
      HERALD_WORKER_CHANNELS: 'webhook',
      // The sink listens on loopback: allowed as an operator would (HERALD_OUTBOUND_ALLOW).
      HERALD_OUTBOUND_ALLOW: '127.0.0.1',
      HERALD_LOG_LEVEL: 'warn',
    },
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 20): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return Date.now();
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error('timed out');
}

/**
 * When every one of `n` deliveries is recorded: the sink is asked (over IPC, no database work)
 * until all have arrived, then the database until it shows them all recorded. Polling the
 * database all along would load the machine the engines share with a count every 50 ms, and the
 * more for the engine with the wider table (a count of herald's deliveries took 32 ms under load,
 * of the plain table 6 ms), so every engine is waited for the same way.
 */
async function recorded(sink: Sink, n: number, done: () => Promise<boolean>): Promise<number> {
  await waitFor(async () => (await sink.ask<SinkReport>('report')).count >= n, 600_000, 20);
  return waitFor(done, 600_000, 5);
}

async function sentCount(db: TestDatabase): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM deliveries WHERE status = 'sent'`);
  return rows[0]!.n;
}

/**
 * Create `n` webhook notifications due far away, then give them their due times in one statement
 * (the first `marginMs` from now, then `spacingMs` apart) and wake the worker. Returns the first
 * due time.
 */
async function prepare(db: TestDatabase, n: number, spacingMs: number): Promise<number> {
  const service = new NotificationService(db.pool);
  const far = new Date(Date.now() + 86_400_000).toISOString();
  for (let i = 0; i < n; i += 10_000) {
    const batch = Array.from({ length: Math.min(10_000, n - i) }, (_, j) => ({ to: { userId: `u${(i + j) % 1000}` }, title: `n${i + j}`, channels: ['webhook' as const], sendAt: far }));
    await service.createMany(batch, { source: 'bench' });
  }
  await db.pool.query('VACUUM ANALYZE deliveries');
  const start = Date.now() + 3000 + n / 50;
  await db.pool.query(
    `WITH o AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM deliveries WHERE status = 'pending')
     UPDATE deliveries d SET due_at = $1::timestamptz + o.i * $2::float8 * interval '1 millisecond',
                             run_at = $1::timestamptz + o.i * $2::float8 * interval '1 millisecond'
       FROM o WHERE d.id = o.id`,
    [new Date(start), spacingMs],
  );
  if (Date.now() > start) console.log(`  (preparation overran the first due time by ${Date.now() - start} ms; lateness includes it)`);
  await db.pool.query(`SELECT pg_notify('herald_deliveries', $1)`, [String(start)]);
  return start;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function baseline(sink: Sink, count: number, due: number, spacing: number): Promise<void> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bench/support/timer-loop.ts'), sink.url, String(count), String(due), String(spacing), '1000'], { stdio: 'inherit' });
  await new Promise((r) => child.once('exit', r));
}

async function rssOf(pid: number): Promise<number> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

function summary(row: { figure: string; value: number; baseline: string; baselineValue: number; ratio: number; goal?: string }): void {
  console.log(`SUMMARY ${JSON.stringify({ ...row, ratio: Number(row.ratio.toFixed(2)) })}`);
}

/** CPU seconds used so far by the engine process and by each PostgreSQL backend serving its database. */
async function cpuOf(db: TestDatabase, pid: number): Promise<{ engine: number; backends: Map<number, number> }> {
  const name = new URL(db.url).pathname.slice(1);
  const { rows } = await db.pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name]);
  return { engine: cpuSeconds(pid), backends: new Map(rows.map((r) => [r.pid, cpuSeconds(r.pid)])) };
}

/** CPU microseconds per delivery between two samples: the engine, and the backends alive at the end (new ones counted whole). */
function cpuPer(before: Awaited<ReturnType<typeof cpuOf>>, after: Awaited<ReturnType<typeof cpuOf>>, n: number): { engineCpuUs: number; postgresCpuUs: number } {
  let pg = 0;
  for (const [pid, t] of after.backends) pg += t - (before.backends.get(pid) ?? 0);
  return { engineCpuUs: ((after.engine - before.engine) * 1e6) / n, postgresCpuUs: (pg * 1e6) / n };
}

interface BurstResult {
  readonly rate: number;
  /** CPU microseconds per delivery: the engine process, and the PostgreSQL backends of its connections. */
  readonly engineCpuUs: number;
  readonly postgresCpuUs: number;
  readonly report: SinkReport;
  readonly left: number;
}

/** `herald worker` draining `n` webhooks made due at one instant. */
async function heraldBurst(sink: Sink, n: number, root = ROOT): Promise<BurstResult> {
  const db = await createTestDatabase(10);
  console.log(`burst: herald (${root === ROOT ? 'this build' : root}), creating ${fmt(n)} notifications…`);
  const worker = startWorker(db, sink.url, root);
  await new Promise((r) => setTimeout(r, 1500));
  await sink.ask('reset');
  const due = await prepare(db, n, 0);
  const before = await cpuOf(db, worker.pid!);
  const exited = new Promise<never>((_, reject) => worker.once('exit', (code) => reject(new Error(`herald worker exited (${code})`))));
  const doneAt = await Promise.race([recorded(sink, n, async () => (await sentCount(db)) >= n), exited]);
  const after = await cpuOf(db, worker.pid!);
  const report = await sink.ask<SinkReport>('report');
  const drain = (doneAt - Math.max(due, report.first)) / 1000;
  worker.kill('SIGTERM');
  await new Promise((res) => worker.once('exit', res));
  const { rows: left } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM deliveries WHERE status <> 'sent'`);
  await db.close();
  return { rate: n / drain, report, left: left[0]!.n, ...cpuPer(before, after, n) };
}

/**
 * A durable peer (bench/support/peer-queue.ts) draining `n` jobs already in its table: timed
 * from the moment it is told to start until the database shows every job done, polled as for herald.
 */
async function peerBurst(sink: Sink, mode: 'plain' | 'graphile', n: number): Promise<BurstResult> {
  const db = await createTestDatabase(4);
  console.log(`burst: ${mode}, loading ${fmt(n)} jobs…`);
  const child = fork(path.join(ROOT, 'bench/support/peer-queue.ts'), [mode, db.url, sink.url, String(n)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve) => child.once('message', () => resolve()));
  await sink.ask('reset');
  const before = await cpuOf(db, child.pid!);
  const start = Date.now();
  child.send({ type: 'go' });
  const done = mode === 'plain'
    ? async () => (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM plain_jobs WHERE status = 'sent'`)).rows[0]!.n >= n
    : async () => (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM graphile_worker._private_jobs`)).rows[0]!.n === 0;
  const doneAt = await recorded(sink, n, done);
  const after = await cpuOf(db, child.pid!);
  const report = await sink.ask<SinkReport>('report');
  child.send({ type: 'stop' });
  await new Promise((res) => child.once('exit', res));
  await db.close();
  return { rate: n / ((doneAt - start) / 1000), report, left: 0, ...cpuPer(before, after, n) };
}

async function main(): Promise<void> {
  const sink = new Sink();
  await sink.ready();
  const rows: string[][] = [];

  // ---- 1. burst: herald, then the durable peers and the in-memory ceiling, back to back
  if (ONLY.has('burst')) {
    const load = loadAverage();
    const before = BEFORE ? await heraldBurst(sink, BURST, BEFORE) : undefined;
    interface Round { h: BurstResult; plain: BurstResult; graphile?: BurstResult | undefined }
    const engines: Array<keyof Round> = ['h', 'plain', ...(PEERS.has('graphile') ? ['graphile' as const] : [])];
    const rounds: Round[] = [];
    for (let r = 0; r < BURST_ROUNDS; r++) {
      const got: Partial<Round> = {};
      for (const who of [...engines.slice(r % engines.length), ...engines.slice(0, r % engines.length)]) {
        got[who] = who === 'h' ? await heraldBurst(sink, BURST) : await peerBurst(sink, who, BURST);
      }
      rounds.push(got as Round);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;
    const vsPlain = median(rounds.map((r) => r.h.rate / r.plain.rate));
    const vsGraphile = engines.includes('graphile') ? median(rounds.map((r) => r.h.rate / r.graphile!.rate)) : undefined;
    const { h, plain, graphile } = rounds.find((r) => r.h.rate / r.plain.rate === vsPlain)!;
    await sink.ask('reset');
    const bdue = Date.now() + 1000;
    await baseline(sink, BURST, bdue, 0);
    const b = await sink.ask<SinkReport>('report');
    const bRate = b.count / ((b.last - bdue) / 1000);
    const loadAfter = loadAverage();
    rows.push(['burst: delivered/s, every delivery recorded in PostgreSQL', fmt(h.rate), fmt(bRate), fmt(h.rate / bRate, 2)]);
    if (before) rows.push(['burst: the other build (BENCH_HERALD_BEFORE), delivered/s (this ÷ other)', fmt(before.rate), '', fmt(h.rate / before.rate, 2)]);
    rows.push(['burst: plain table + SKIP LOCKED batches of 500, delivered/s (herald ÷ plain)', fmt(plain.rate), '', fmt(vsPlain, 2)]);
    if (graphile && vsGraphile !== undefined) rows.push(['burst: graphile-worker, delivered/s (herald ÷ graphile-worker)', fmt(graphile.rate), '', fmt(vsGraphile, 2)]);
    if (BURST_ROUNDS > 1) {
      const per = (f: (r: Round) => number) => rounds.map((r) => f(r).toFixed(2)).join(' ');
      rows.push([`burst: per round (${BURST_ROUNDS}, interleaved), herald ÷ plain; herald ÷ graphile-worker (the ratios above are their medians)`, `${per((r) => r.h.rate / r.plain.rate)}${vsGraphile !== undefined ? `; ${per((r) => r.h.rate / r.graphile!.rate)}` : ''}`, '', '']);
    }
    const cpu = (r: BurstResult) => `${fmt(r.engineCpuUs)} + ${fmt(r.postgresCpuUs)}`;
    rows.push(['burst: CPU µs per delivery, engine process + its PostgreSQL backends (herald / plain / graphile-worker)', `${cpu(h)} / ${cpu(plain)}${graphile ? ` / ${cpu(graphile)}` : ''}`, '', '']);
    if (before) rows.push(['burst: CPU µs per delivery of the other build (BENCH_HERALD_BEFORE)', cpu(before), '', '']);
    rows.push(['burst: lateness p50 / p99 / max (ms)', `${fmt(h.report.p50)} / ${fmt(h.report.p99)} / ${fmt(h.report.max)}`, `${fmt(b.p50)} / ${fmt(b.p99)} / ${fmt(b.max)}`, '']);
    rows.push(['burst: duplicates at the sink / rows not sent', `${h.report.duplicates} / ${h.left}`, `${b.duplicates} / –`, '']);
    rows.push(['burst: load average (1 min) before / after', `${load} / ${loadAfter}`, '', '']);
    const n = fmt(BURST);
    const rounds_ = BURST_ROUNDS > 1 ? `, median of ${BURST_ROUNDS} interleaved rounds` : '';
    summary({ figure: `burst of ${n} webhooks, delivered/s (load ${load}${rounds_})`, value: Math.round(h.rate), baseline: 'plain table + SKIP LOCKED', baselineValue: Math.round(plain.rate), ratio: vsPlain, goal: '≥ 0.9×' });
    if (graphile && vsGraphile !== undefined) summary({ figure: `burst of ${n} webhooks, delivered/s (load ${load}${rounds_})`, value: Math.round(h.rate), baseline: 'graphile-worker 0.18', baselineValue: Math.round(graphile.rate), ratio: vsGraphile, goal: '≥ 1.5×' });
    summary({ figure: `burst of ${n} webhooks, delivered/s (load ${load})`, value: Math.round(h.rate), baseline: 'in-memory timer loop (no durability)', baselineValue: Math.round(bRate), ratio: h.rate / bRate });
  }

  // ---- 2. steady
  if (ONLY.has('steady')) {
    const n = RATE * STEADY_SECONDS;
    const db = await createTestDatabase(10);
    console.log(`steady: ${fmt(RATE)}/s for ${STEADY_SECONDS} s (${fmt(n)} notifications)…`);
    const worker = startWorker(db, sink.url);
    await new Promise((r) => setTimeout(r, 1500));
    await sink.ask('reset');
    await prepare(db, n, 1000 / RATE);
    await waitFor(async () => (await sentCount(db)) >= n, STEADY_SECONDS * 1000 + 120_000, 200);
    const r = await sink.ask<SinkReport>('report');
    worker.kill('SIGTERM');
    await new Promise((res) => worker.once('exit', res));
    await db.close();

    await sink.ask('reset');
    const bstart = Date.now() + 1000;
    await baseline(sink, n, bstart, 1000 / RATE);
    const b = await sink.ask<SinkReport>('report');
    rows.push([`steady ${fmt(RATE)}/s: lateness p50 / p99 / max (ms)`, `${fmt(r.p50)} / ${fmt(r.p99)} / ${fmt(r.max)}`, `${fmt(b.p50)} / ${fmt(b.p99)} / ${fmt(b.max)}`, '']);
  }

  // ---- 3. kill -9 in the middle of a burst, then restart
  if (ONLY.has('kill')) {
    const n = Math.min(BURST, 50_000);
    const db = await createTestDatabase(10);
    console.log(`kill -9: ${fmt(n)} due at once, the worker killed mid-run and restarted…`);
    const first = startWorker(db, sink.url);
    await new Promise((r) => setTimeout(r, 1500));
    await sink.ask('reset');
    await prepare(db, n, 0);
    await waitFor(async () => (await sink.ask<SinkReport>('report')).count >= n / 3, 300_000, 10);
    first.kill('SIGKILL');
    await new Promise((res) => first.once('exit', res));
    const restartAt = Date.now();
    const second = startWorker(db, sink.url);
    await waitFor(async () => (await sentCount(db)) >= n, 300_000, 20);
    const r = await sink.ask<SinkReport>('report');
    const { rows: locked } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM deliveries WHERE status = 'sending'`);
    second.kill('SIGTERM');
    await new Promise((res) => second.once('exit', res));
    const lost = n - (r.count - r.duplicates);
    await db.close();
    rows.push(['kill -9 mid-burst: lost / duplicated / last arrival after restart', `${lost} / ${r.duplicates} / ${fmt((r.last - restartAt) / 1000, 1)} s`, '—', '']);
    rows.push(['kill -9 mid-burst: rows left locked', String(locked[0]!.n), '—', '']);
  }

  // ---- 4. many pending
  if (ONLY.has('pending')) {
    const db = await createTestDatabase(4);
    console.log(`pending: inserting ${fmt(PENDING)} future notifications…`);
    // Set-based fixture (the API path is measured above): notifications and deliveries due tomorrow.
    for (let i = 0; i < PENDING; i += 100_000) {
      const m = Math.min(100_000, PENDING - i);
      await db.pool.query(
        `WITH n AS (
           INSERT INTO notifications (id, user_ids, channels, payload, send_at, source)
           SELECT 'p' || g, ARRAY['u' || (g % 1000)], ARRAY['webhook'], '{"title":"later"}'::jsonb, now() + interval '1 day' + g * interval '1 ms', 'bench'
             FROM generate_series($1::int, $1::int + $2::int - 1) AS g
           RETURNING id, user_ids, send_at)
         INSERT INTO deliveries (notification_id, user_id, channel, provider, due_at, run_at)
         SELECT id, user_ids[1], 'webhook', 'webhook', send_at, send_at FROM n`,
        [i, m],
      );
    }
    await db.pool.query('ANALYZE deliveries');
    const worker = startWorker(db, sink.url);
    await new Promise((r) => setTimeout(r, 4000));
    const rss = await rssOf(worker.pid!);
    const passes = 200;
    const t0 = performance.now();
    for (let i = 0; i < passes; i++) {
      await claimDue(db.pool, 'bench', 500, 30, ['webhook']);
      await nextRunAt(db.pool, ['webhook']);
    }
    const pass = (performance.now() - t0) / passes;
    worker.kill('SIGTERM');
    await new Promise((res) => worker.once('exit', res));
    await db.close();
    rows.push([`${fmt(PENDING)} pending: worker RSS (MB)`, fmt(rss, 1), '', '']);
    rows.push([`${fmt(PENDING)} pending: one scheduling pass (claim + next due, ms)`, fmt(pass, 2), '', '']);
  }

  sink.child.send({ type: 'exit' });
  console.log('\n| engine benchmark | herald | in-memory timer loop (ceiling) | herald / ceiling |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

await main();
