// Scaling out: the same burst of webhooks delivered by 1, 2 and 4 `herald worker` processes
// claiming from one PostgreSQL, and by JetStream dispatch (`herald scheduler` publishing due
// deliveries to NATS, 2 `herald worker` processes consuming them). Each run counts what the
// keep-alive sink received per delivery id (duplicates), times the drain until PostgreSQL shows
// every delivery `sent`, and reads the CPU the herald processes and their PostgreSQL backends
// used per delivery (from /proc): the arithmetic of docs/scaling.md starts from those figures.
// The baseline is one worker process, in the same run.
//
//   npm run bench -- scale       BENCH_SCALE_N (default 50000) deliveries per run;
//                                BENCH_SCALE_RUNS (default pg1,pg2,pg4,nats2) picks runs.
// JetStream runs need a NATS server with JetStream at HERALD_NATS_URL (default 127.0.0.1:4222).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { NotificationService } from '../src/notifications/service.ts';
import { Sink, type SinkReport } from './support/sink-process.ts';
import { cpuSeconds, loadAverage } from './support/proc.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.BENCH_SCALE_N ?? 50_000);
const RUNS = (process.env.BENCH_SCALE_RUNS ?? 'pg1,pg2,pg4,nats2').split(',');
const SECRET = randomBytes(32).toString('hex');

function herald(role: string, db: TestDatabase, sinkUrl: string, extra: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [path.join(ROOT, 'bin/herald.js'), role], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      HERALD_DATABASE_URL: db.url,
      HERALD_SECRET_KEY: SECRET,
      HERALD_WEBHOOK_URL: sinkUrl,
      HERALD_WORKER_CHANNELS: 'webhook',
      HERALD_OUTBOUND_ALLOW: '127.0.0.1',
      HERALD_LOG_LEVEL: 'warn',
      ...extra,
    },
  });
}

/** CPU seconds so far of each herald process and of every PostgreSQL backend serving the database, by pid. */
async function cpuSample(db: TestDatabase, pids: number[]): Promise<{ herald: number; backends: Map<number, number> }> {
  const name = new URL(db.url).pathname.slice(1);
  const { rows } = await db.pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name]);
  return { herald: pids.reduce((s, p) => s + cpuSeconds(p), 0), backends: new Map(rows.map((r) => [r.pid, cpuSeconds(r.pid)])) };
}

/** The local nats-server's pid, to count its CPU in JetStream runs (undefined when it runs elsewhere). */
function natsServerPid(): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'nats-server') return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

interface RunResult {
  name: string;
  rate: number;
  received: number;
  duplicates: number;
  heraldCpuUs: number;
  postgresCpuUs: number;
  natsCpuUs: number | undefined;
  load: string;
}

async function run(sink: Sink, name: string): Promise<RunResult> {
  const nats = name.startsWith('nats');
  const workers = Number(name.replace(/\D/g, ''));
  const db = await createTestDatabase(4);
  const service = new NotificationService(db.pool);
  const far = new Date(Date.now() + 86_400_000).toISOString();
  console.log(`${name}: creating ${N.toLocaleString('en-US')} notifications…`);
  for (let i = 0; i < N; i += 10_000) {
    await service.createMany(Array.from({ length: Math.min(10_000, N - i) }, (_, j) => ({ to: { userId: `u${(i + j) % 1000}` }, title: `n${i + j}`, channels: ['webhook' as const], sendAt: far })), { source: 'bench' });
  }
  await db.pool.query('VACUUM ANALYZE deliveries');
  const mode: Record<string, string> = nats ? { HERALD_DISPATCH_MODE: 'nats', HERALD_DISPATCH_SUBJECT_PREFIX: `herald.bench${randomBytes(3).toString('hex')}` } : {};
  const procs: ChildProcess[] = [];
  if (nats) procs.push(herald('scheduler', db, sink.url, mode));
  for (let i = 0; i < workers; i++) procs.push(herald('worker', db, sink.url, mode));
  const exited = new Promise<never>((_, reject) => procs.forEach((p) => p.once('exit', (code) => reject(new Error(`a herald process exited (${code})`)))));
  await new Promise((r) => setTimeout(r, 3000));
  await sink.ask('reset');
  const loadAt = loadAverage();
  const pids = procs.map((p) => p.pid!);
  const natsPid = nats ? natsServerPid() : undefined;
  const natsBefore = natsPid ? cpuSeconds(natsPid) : 0;
  const before = await cpuSample(db, pids);
  const start = Date.now();
  await db.pool.query(`UPDATE deliveries SET due_at = now(), run_at = now() WHERE status = 'pending'`);
  await db.pool.query(`SELECT pg_notify('herald_deliveries', $1)`, [String(Date.now())]);
  // The sink first (over IPC, no database work), then PostgreSQL until every row shows `sent`:
  // a count of the deliveries every 50 ms all through the run loaded the machine it measures.
  const poll = async () => {
    while ((await sink.ask<SinkReport>('report')).count < N) await new Promise((r) => setTimeout(r, 20));
    for (;;) {
      const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM deliveries WHERE status = 'sent'`);
      if (rows[0]!.n >= N) return Date.now();
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const doneAt = await Promise.race([poll(), exited]);
  const after = await cpuSample(db, pids);
  const natsCpuUs = natsPid ? ((cpuSeconds(natsPid) - natsBefore) * 1e6) / N : undefined;
  // Late duplicates (a redelivery after the commit) arrive after the drain: wait a little for them.
  await new Promise((r) => setTimeout(r, 1000));
  const report = await sink.ask<SinkReport>('report');
  exited.catch(() => undefined);
  for (const p of procs) {
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await gone;
  }
  await db.close();
  let pg = 0;
  for (const [pid, t] of after.backends) pg += t - (before.backends.get(pid) ?? 0);
  return { name, rate: N / ((doneAt - start) / 1000), received: report.count, duplicates: report.duplicates, heraldCpuUs: ((after.herald - before.herald) * 1e6) / N, postgresCpuUs: (pg * 1e6) / N, natsCpuUs, load: loadAt };
}

const LABEL: Record<string, string> = {
  pg1: '1 worker process, PostgreSQL claims',
  pg2: '2 worker processes, PostgreSQL claims',
  pg4: '4 worker processes, PostgreSQL claims',
  nats2: 'JetStream dispatch: scheduler + 2 worker processes',
};

const sink = new Sink();
await sink.ready();
const results: RunResult[] = [];
for (const name of RUNS) results.push(await run(sink, name));
sink.child.send({ type: 'exit' });

const base = results.find((r) => r.name === 'pg1');
console.log(`\n| ${N.toLocaleString('en-US')} webhooks due at once | delivered/s | × 1 worker | received / duplicates at the sink | CPU µs per delivery: herald + PostgreSQL (+ nats-server) | load (1 min) |`);
console.log('|---|---:|---:|---|---|---|');
for (const r of results) {
  console.log(`| ${LABEL[r.name] ?? r.name} | ${Math.round(r.rate).toLocaleString('en-US')} | ${base ? (r.rate / base.rate).toFixed(2) : ''} | ${r.received} / ${r.duplicates} | ${Math.round(r.heraldCpuUs)} + ${Math.round(r.postgresCpuUs)}${r.natsCpuUs !== undefined ? ` + ${Math.round(r.natsCpuUs)}` : ''} | ${r.load} |`);
}
for (const r of results) {
  if (!base || r === base) continue;
  console.log(`SUMMARY ${JSON.stringify({ figure: `${LABEL[r.name] ?? r.name}: delivered/s, ${r.duplicates} duplicates (load ${r.load})`, value: Math.round(r.rate), baseline: '1 worker process', baselineValue: Math.round(base.rate), ratio: Number((r.rate / base.rate).toFixed(2)) })}`);
}
