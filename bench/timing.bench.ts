// The timing rules benchmark (issue: timing rules; docs/timing.md). The same load runs twice in
// one run, on fresh databases: once with quiet hours, a frequency cap and time zones configured
// for every user (rules on), once without (the baseline). Notifications are created through the
// API (POST /v1/notifications/batch, in process), delivered by a `herald worker` process as
// webhooks to a keep-alive sink in another process, which records each one's lateness against
// its due time.
//
//   1. steady: RATE notifications/s for SECONDS s, each due ~2 s after it is created (spaced
//      1/RATE apart) → lateness p50/p99/max at the sink of the deliveries that are due
//   2. burst: BURST notifications created due now with the worker stopped, then the worker
//      started → deliveries/s until every one is recorded sent. With rules each is sent as
//      `sendAt: {localTime}`, now in its recipient's zone.
//   3. create: CREATE notifications by push, e-mail and webhook to users with a device each, no
//      worker → notifications created/s through the batch API. Quiet hours and local times are
//      worked out when a notification fans out, for push and e-mail (webhooks never wait for
//      quiet hours), so this is where their cost shows; a cap is decided just before each send,
//      which the first two measure.
//
// The steady load is sent with absolute due times 1/RATE apart in both runs: a local time names
// whole seconds, which would turn the steady load into a burst each second.
// The rules are chosen to be evaluated for every delivery without deferring it: quiet hours
// that end just before the current hour in each user's zone and begin hours later, a cap far
// above what one user receives. So every delivery is due at its own time and both runs deliver
// the same rows; what differs is the rules' cost.
//
// Sizes: HERALD_BENCH_TIMING_RATE (1000), HERALD_BENCH_TIMING_SECONDS (60),
// HERALD_BENCH_TIMING_BURST (100000), HERALD_BENCH_TIMING_CREATE (20000),
// HERALD_BENCH_TIMING_USERS (1000); HERALD_BENCH_TIMING_SCENARIOS=steady,burst,create picks some.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHarness, type TestHarness } from '../test/helpers/app.ts';
import { configureRules, notificationItem, type RuleSet } from './support/timing-rules.ts';
import { Sink, type SinkReport } from './support/sink-process.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = (name: string, fallback: number) => Number(process.env[`HERALD_BENCH_TIMING_${name}`] ?? fallback);
const RATE = env('RATE', 1000);
const SECONDS = env('SECONDS', 60);
const BURST = env('BURST', 100_000);
const USERS = env('USERS', 1000);
const CREATE = env('CREATE', 20_000);
const ONLY = new Set((process.env.HERALD_BENCH_TIMING_SCENARIOS ?? 'steady,burst,create').split(','));
/** How far ahead of its creation a steady notification is due: creation is not what is measured. */
const LEAD_MS = 2000;


function startWorker(h: TestHarness, sinkUrl: string): ChildProcess {
  // The compiled build, as production runs it (scripts/bench.js builds first).
  return spawn(process.execPath, [path.join(ROOT, 'bin/herald.js'), 'worker'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      HERALD_DATABASE_URL: h.db.url,
      HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
      HERALD_WEBHOOK_URL: sinkUrl,
      HERALD_WORKER_CHANNELS: 'webhook',
      HERALD_OUTBOUND_ALLOW: '127.0.0.1',
      HERALD_LOG_LEVEL: 'warn',
    },
  });
}

async function stopWorker(worker: ChildProcess): Promise<void> {
  worker.kill('SIGTERM');
  await new Promise((res) => worker.once('exit', res));
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return Date.now();
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error('timed out');
}

/** Deliveries sent, held back by a rule (quiet hours, a cap; a local time is the due time itself), ended otherwise. */
async function counts(h: TestHarness): Promise<{ sent: number; deferred: number; other: number }> {
  const { rows } = await h.db.pool.query<{ sent: number; deferred: number; other: number }>(
    `SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent,
            count(*) FILTER (WHERE deferred_by IN ('quiet-hours', 'cap', 'digest'))::int AS deferred,
            count(*) FILTER (WHERE status NOT IN ('sent', 'pending', 'sending'))::int AS other
       FROM deliveries`,
  );
  return rows[0]!;
}

/** Create `items` through POST /v1/notifications/batch, 1,000 a request. */
async function post(h: TestHarness, items: unknown[]): Promise<void> {
  for (let i = 0; i < items.length; i += 1000) {
    const res = await h.request({ method: 'POST', url: '/v1/notifications/batch', payload: { items: items.slice(i, i + 1000) } });
    if (res.statusCode !== 200) throw new Error(`batch: ${res.statusCode} ${res.body}`);
    const failed = (res.json().items as Array<{ error?: unknown }>).find((r) => r.error);
    if (failed) throw new Error(`batch item: ${JSON.stringify(failed.error)}`);
  }
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

interface Setup { h: TestHarness; rules: RuleSet }

async function setup(rulesOn: boolean, devices = false): Promise<Setup> {
  const h = await createHarness({ HERALD_RATE_LIMIT_PER_KEY: '0' }, { poolSize: 10 });
  const rules = await configureRules(h, USERS, rulesOn, devices);
  if (rulesOn) console.log(`  rules in effect: ${rules.describe()}`);
  await h.db.pool.query('ANALYZE');
  return { h, rules };
}

interface SteadyResult { report: SinkReport; deferred: number; other: number; createMs: number }

async function steady(sink: Sink, rulesOn: boolean): Promise<SteadyResult & { rules: RuleSet }> {
  const { h, rules } = await setup(rulesOn);
  const n = RATE * SECONDS;
  const worker = startWorker(h, sink.url);
  await new Promise((r) => setTimeout(r, 2000));
  await sink.ask('reset');
  // Every 100 ms a batch of RATE/10, due LEAD_MS later and 1/RATE apart: RATE per second.
  const perTick = Math.max(1, Math.round(RATE / 10));
  const start = Date.now();
  let made = 0;
  let createMs = 0;
  for (let tick = 0; made < n; tick++) {
    const at = start + tick * 100;
    const wait = at - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const items = Array.from({ length: Math.min(perTick, n - made) }, (_, i) => notificationItem(rules, made + i, new Date(at + LEAD_MS + (i * 1000) / RATE)));
    const t0 = performance.now();
    await post(h, items);
    createMs += performance.now() - t0;
    made += items.length;
  }
  await waitFor(async () => {
    const c = await counts(h);
    return c.sent + c.other >= n;
  }, SECONDS * 1000 + 180_000, 200);
  const report = await sink.ask<SinkReport>('report');
  const c = await counts(h);
  await stopWorker(worker);
  await h.close();
  return { report, deferred: c.deferred, other: c.other, createMs, rules };
}

interface BurstResult { rate: number; report: SinkReport; createRate: number; deferred: number }

async function burst(sink: Sink, rulesOn: boolean): Promise<BurstResult> {
  const { h, rules } = await setup(rulesOn);
  const now = new Date();
  const t0 = performance.now();
  const items = Array.from({ length: BURST }, (_, i) => notificationItem(rules, i, now, { localTime: true }));
  await post(h, items);
  const createRate = BURST / ((performance.now() - t0) / 1000);
  await h.db.pool.query('VACUUM ANALYZE deliveries');
  await sink.ask('reset');
  const worker = startWorker(h, sink.url);
  // Done when nothing is left to send: asked through the runnable index, which is cheap however
  // many rows were sent (counting every row each 100 ms took a core of PostgreSQL's time away from
  // the run it measured, and more from the slower run).
  const doneAt = await waitFor(async () => {
    const { rows } = await h.db.pool.query<{ left: boolean }>(`SELECT EXISTS (SELECT 1 FROM deliveries WHERE status IN ('pending', 'sending')) AS left`);
    return !rows[0]!.left;
  }, 900_000, 100);
  const report = await sink.ask<SinkReport>('report');
  const c = await counts(h);
  if (c.sent + c.other < BURST) throw new Error(`the burst ended with ${c.sent + c.other} of ${BURST} deliveries sent or ended`);
  await stopWorker(worker);
  await h.close();
  return { rate: report.count / ((doneAt - report.first) / 1000), report, createRate, deferred: c.deferred };
}

/** Notifications by push, e-mail and webhook created through the batch API, per second (no worker). */
async function create(rulesOn: boolean): Promise<{ rate: number; deliveries: number; deferred: number }> {
  const { h, rules } = await setup(rulesOn, true);
  const due = new Date(Date.now() + 60_000);
  const items = Array.from({ length: CREATE }, (_, i) => notificationItem(rules, i, due, { channels: ['push', 'email', 'webhook'] }));
  const t0 = performance.now();
  await post(h, items);
  const rate = CREATE / ((performance.now() - t0) / 1000);
  const { rows } = await h.db.pool.query<{ n: number; deferred: number }>(`SELECT count(*)::int AS n, count(*) FILTER (WHERE deferred_by = 'quiet-hours')::int AS deferred FROM deliveries`);
  await h.close();
  return { rate, deliveries: rows[0]!.n, deferred: rows[0]!.deferred };
}

function summary(figure: string, value: number, baseline: string, baselineValue: number, ratio: number, goal: string, digits = 0): void {
  console.log(`SUMMARY ${JSON.stringify({ figure, value: fmt(value, digits), baseline, baselineValue: fmt(baselineValue, digits), ratio: ratio.toFixed(2), goal })}`);
}

async function main(): Promise<void> {
  const sink = new Sink();
  await sink.ready();
  const rows: string[][] = [];
  console.log(`load average at start: ${load()}`);

  if (ONLY.has('steady')) {
    console.log(`steady: ${fmt(RATE)}/s for ${SECONDS} s, ${fmt(USERS)} users, without rules…`);
    const off = await steady(sink, false);
    console.log(`  load average: ${load()}`);
    console.log('steady: the same with rules…');
    const on = await steady(sink, true);
    console.log(`  load average: ${load()}`);
    const r = on.report;
    const b = off.report;
    rows.push([`steady ${fmt(RATE)}/s × ${SECONDS} s: lateness p50 / p99 / max (ms)`, `${fmt(r.p50)} / ${fmt(r.p99)} / ${fmt(r.max)}`, `${fmt(b.p50)} / ${fmt(b.p99)} / ${fmt(b.max)}`, fmt(r.p99 / Math.max(1, b.p99), 2)]);
    rows.push(['steady: delivered / deferred by a rule / dropped or failed', `${fmt(r.count)} / ${on.deferred} / ${on.other}`, `${fmt(b.count)} / ${off.deferred} / ${off.other}`, '']);
    rows.push(['steady: time creating notifications (ms, through the batch API)', fmt(on.createMs), fmt(off.createMs), fmt(on.createMs / Math.max(1, off.createMs), 2)]);
    summary(`steady ${fmt(RATE)}/s × ${SECONDS} s: lateness p99 of due deliveries, ms (rules on)`, r.p99, 'the same load without rules', b.p99, r.p99 / Math.max(1, b.p99), '< 50 ms and ≤ 1.5×');
  }

  if (ONLY.has('burst')) {
    console.log(`burst: ${fmt(BURST)} due at once, without rules…`);
    const off = await burst(sink, false);
    console.log(`  load average: ${load()}`);
    console.log('burst: the same with rules…');
    const on = await burst(sink, true);
    console.log(`  load average: ${load()}`);
    rows.push([`burst ${fmt(BURST)}: delivered/s (all recorded sent)`, fmt(on.rate), fmt(off.rate), fmt(on.rate / off.rate, 2)]);
    rows.push(['burst: notifications created/s (batch API, worker stopped)', fmt(on.createRate), fmt(off.createRate), fmt(on.createRate / off.createRate, 2)]);
    rows.push(['burst: deferred by a rule / duplicates at the sink', `${on.deferred} / ${on.report.duplicates}`, `${off.deferred} / ${off.report.duplicates}`, '']);
    summary(`${fmt(BURST)} burst: delivered/s (rules on)`, on.rate, 'the same burst without rules', off.rate, on.rate / off.rate, '≥ 0.8×');
  }

  if (ONLY.has('create')) {
    console.log(`create: ${fmt(CREATE)} notifications by push, e-mail and webhook, without rules…`);
    const off = await create(false);
    console.log('create: the same with rules…');
    const on = await create(true);
    console.log(`  load average: ${load()}`);
    rows.push([`create ${fmt(CREATE)} × (push, e-mail, webhook): notifications/s (batch API)`, fmt(on.rate), fmt(off.rate), fmt(on.rate / off.rate, 2)]);
    rows.push(['create: deliveries made / held by quiet hours', `${fmt(on.deliveries)} / ${on.deferred}`, `${fmt(off.deliveries)} / ${off.deferred}`, '']);
    summary('notifications created/s by push, e-mail and webhook, batch API (rules on)', on.rate, 'the same without rules', off.rate, on.rate / off.rate, '');
  }

  sink.child.send({ type: 'exit' });
  console.log(`\nload average at the end: ${load()}`);
  console.log('\n| timing benchmark | rules on | without rules (baseline) | on / off |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

await main();
