// Template rendering benchmark: the cost of rendering every delivery from a stored template (two
// locales, plural forms, a date and a time in each recipient's zone) against the same deliveries
// with their text given literally, in the same run, through the real worker process
// (`herald worker`, PostgreSQL claims) and the webhook channel to the keep-alive sink.
//
//   each run: N notifications due at one instant → drained (all recorded `sent`) → rate, and the
//   worker process's CPU time for the run (user + system, from /proc) per 1,000 deliveries
//   rounds alternate the order (literal, template; then template, literal; ...) so a drift in
//   the machine's load does not favour one side
//   template / literal = what rendering costs (compiled versions are cached per version and
//   locale in the worker; Intl formatters per locale and zone)
//
// Throughput on a shared 2-core machine swings with whatever else runs; the worker's CPU time
// per delivery is the steadier measure of the same cost, so both are printed.
//
// Sizes: BENCH_TEMPLATES (100000) deliveries per run, BENCH_TEMPLATE_ROUNDS (2) rounds of one
// literal and one template run, on one worker process.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { NotificationService } from '../src/notifications/service.ts';
import { TemplateService } from '../src/templates/service.ts';
import { CompiledTemplate } from '../src/templates/render.ts';
import type { NotificationInput } from '../src/notifications/types.ts';
import type { TemplateInput } from '../src/templates/service.ts';
import { Sink } from './support/sink-process.ts';
import { cpuSeconds } from './support/proc.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.BENCH_TEMPLATES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_TEMPLATE_ROUNDS ?? 2);
const USERS = 1000;

const TEMPLATE: TemplateInput = {
  variables: { count: { type: 'number', required: true }, when: { type: 'date', required: true }, name: { type: 'string', required: true } },
  defaultLocale: 'en',
  locales: {
    en: { webhook: { title: 'Hello {name}', body: '{count, plural, one {Your parcel arrives} other {Your # parcels arrive}} on {when, date, full} at {when, time, short}' } },
    de: { webhook: { title: 'Hallo {name}', body: '{count, plural, one {Ihr Paket kommt} other {Ihre # Pakete kommen}} am {when, date, full} um {when, time, short}' } },
  },
};
const BASE = Date.parse('2027-01-04T08:30:00Z');
const dataOf = (i: number) => ({ count: (i % 5) + 1, when: new Date(BASE + (i % 1440) * 60_000).toISOString(), name: `user ${i % USERS}` });
// Half the users read German in Vienna, half English in New York (see main()).
const recipientOf = (k: number) => (k % USERS) % 2 === 0 ? { locale: 'de-AT', timeZone: 'Europe/Vienna' } : { locale: 'en-US', timeZone: 'America/New_York' };
// The literal run sends each recipient exactly the text the template renders for them.
const compiled = new CompiledTemplate('order', 1, { ...TEMPLATE, variables: TEMPLATE.variables!, defaultLocale: 'en' });

function startWorker(db: TestDatabase, sinkUrl: string): ChildProcess {
  return spawn(process.execPath, [path.join(ROOT, 'bin/herald.js'), 'worker'], {
    cwd: ROOT,
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

/** Polls until every one of n deliveries is `sent`; stops at the first failed one with its error. */
async function waitForSent(db: TestDatabase, n: number, timeoutMs: number): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const { rows } = await db.pool.query<{ sent: number; failed: number; error: string | null }>(
      `SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*) FILTER (WHERE status = 'failed')::int AS failed,
              max(last_error) FILTER (WHERE status = 'failed') AS error
         FROM deliveries`,
    );
    const r = rows[0]!;
    if (r.failed > 0) throw new Error(`${r.failed} deliveries failed, e.g. ${r.error ?? '(no error recorded)'}`);
    if (r.sent >= n) return Date.now();
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`timed out waiting for ${n} deliveries to be sent`);
}

/** Create N notifications due tomorrow, then make them all due now; returns the due time. */
async function load(db: TestDatabase, literal: boolean, n: number): Promise<number> {
  await db.pool.query('TRUNCATE notifications, deliveries, events CASCADE');
  const service = new NotificationService(db.pool);
  const far = new Date(Date.now() + 86_400_000).toISOString();
  for (let i = 0; i < n; i += 10_000) {
    const batch: NotificationInput[] = Array.from({ length: Math.min(10_000, n - i) }, (_, j) => {
      const k = i + j;
      const base = { to: { userId: `u${k % USERS}` }, channels: ['webhook' as const], sendAt: far };
      if (!literal) return { ...base, template: { key: 'order', data: dataOf(k) } };
      const fields = compiled.render('webhook', recipientOf(k), dataOf(k))!.fields;
      return { ...base, title: fields.title, body: fields.body };
    });
    await service.createMany(batch, { source: 'bench' });
  }
  await db.pool.query('VACUUM ANALYZE deliveries');
  const due = Date.now() + 1000;
  await db.pool.query(`UPDATE deliveries SET due_at = $1, run_at = $1`, [new Date(due)]);
  await db.pool.query(`SELECT pg_notify('herald_deliveries', $1)`, [String(due)]);
  return due;
}

interface Run { readonly rate: number; readonly cpuMsPer1000: number }

async function run(db: TestDatabase, sink: Sink, worker: ChildProcess, literal: boolean, n = N): Promise<Run> {
  const due = await load(db, literal, n);
  await sink.ask('reset');
  const cpu0 = cpuSeconds(worker.pid!);
  const doneAt = await waitForSent(db, n, 600_000);
  const cpu = cpuSeconds(worker.pid!) - cpu0;
  const r = await sink.ask<{ count: number; first: number }>('report');
  if (r.count < n) throw new Error(`the sink saw ${r.count} of ${n}`);
  return { rate: n / ((doneAt - Math.max(due, r.first)) / 1000), cpuMsPer1000: (cpu * 1000 * 1000) / n };
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const db = await createTestDatabase(10);
  await db.pool.query(
    `INSERT INTO users (id, locale, timezone, name)
     SELECT 'u' || g, CASE WHEN g % 2 = 0 THEN 'de-AT' ELSE 'en-US' END,
            CASE WHEN g % 2 = 0 THEN 'Europe/Vienna' ELSE 'America/New_York' END, 'user ' || g
       FROM generate_series(0, $1::int - 1) AS g`,
    [USERS],
  );
  await new TemplateService(db.pool).put('default', 'order', TEMPLATE);
  for (const k of [0, 7]) console.log(`  ${recipientOf(k).locale}: ${compiled.render('webhook', recipientOf(k), dataOf(k))!.fields.body}`);
  const sink = new Sink();
  await sink.ready();
  const worker = startWorker(db, `http://127.0.0.1:${sink.port}/hook`);
  await new Promise((r) => setTimeout(r, 1500));
  const literal: Run[] = [];
  const templated: Run[] = [];
  try {
    // Warm-up, not counted: both paths compiled by V8 and the template cached before measuring.
    await run(db, sink, worker, true, Math.min(N, 10_000));
    await run(db, sink, worker, false, Math.min(N, 10_000));
    for (let round = 1; round <= ROUNDS; round++) {
      if (round % 2 === 1) {
        literal.push(await run(db, sink, worker, true));
        templated.push(await run(db, sink, worker, false));
      } else {
        templated.push(await run(db, sink, worker, false));
        literal.push(await run(db, sink, worker, true));
      }
      const l = literal.at(-1)!;
      const t = templated.at(-1)!;
      console.log(`  round ${round}: literal ${fmt(l.rate)}/s (${fmt(l.cpuMsPer1000)} ms CPU per 1,000), template ${fmt(t.rate)}/s (${fmt(t.cpuMsPer1000)} ms CPU per 1,000): throughput ${fmt(t.rate / l.rate, 2)}×, CPU ${fmt(t.cpuMsPer1000 / l.cpuMsPer1000, 2)}×`);
    }
  } finally {
    worker.kill('SIGTERM');
    await new Promise((res) => worker.once('exit', res));
    sink.child.send({ type: 'exit' });
    await db.close();
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const rates = templated.map((t, i) => t.rate / literal[i]!.rate);
  const cpus = templated.map((t, i) => t.cpuMsPer1000 / literal[i]!.cpuMsPer1000);
  console.log(`\n| template benchmark (${fmt(N)} webhooks per run, ${ROUNDS} rounds) | template | literal | template / literal (per-round min–max) |`);
  console.log('|---|---|---|---|');
  console.log(`| delivered/s, mean | ${fmt(mean(templated.map((r) => r.rate)))} | ${fmt(mean(literal.map((r) => r.rate)))} | ${fmt(mean(rates), 2)} (${fmt(Math.min(...rates), 2)}–${fmt(Math.max(...rates), 2)}) |`);
  console.log(`| worker CPU per 1,000 deliveries (ms), mean | ${fmt(mean(templated.map((r) => r.cpuMsPer1000)))} | ${fmt(mean(literal.map((r) => r.cpuMsPer1000)))} | ${fmt(mean(cpus), 2)} (${fmt(Math.min(...cpus), 2)}–${fmt(Math.max(...cpus), 2)}) |`);
  const load = loadavg()[0]!.toFixed(1);
  const summary = (line: Record<string, unknown>) => console.log(`SUMMARY ${JSON.stringify(line)}`);
  summary({ figure: `${fmt(N)} webhooks rendered from a template, delivered/s, mean of ${ROUNDS} rounds (load ${load})`, value: Math.round(mean(templated.map((r) => r.rate))), baseline: 'the same text given literally', baselineValue: Math.round(mean(literal.map((r) => r.rate))), ratio: Number(mean(rates).toFixed(2)), goal: 'reported' });
  summary({ figure: `(same) worker CPU µs per delivery (load ${load})`, value: Math.round(mean(templated.map((r) => r.cpuMsPer1000))), baseline: 'the same text given literally', baselineValue: Math.round(mean(literal.map((r) => r.cpuMsPer1000))), ratio: Number(mean(cpus).toFixed(2)), goal: 'reported' });
}

await main();
