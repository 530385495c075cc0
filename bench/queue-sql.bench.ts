// What the delivery loop's two statements cost PostgreSQL, per delivery: the claim (due rows
// taken with SKIP LOCKED and leased) and the outcome slice (status recorded with its event).
// Each variant drains the same N due webhook deliveries in slices of 250 on one connection, and
// the figure is the CPU that connection's backend used (read from /proc, so the machine's other
// load does not count), divided by N:
//
//   herald       claimDue + recordOutcomes, as `herald worker` runs them
//   herald, hash user index   the same, with deliveries_user as the hash index it was before
//                migration 1040 (before/after in one run)
//   herald, no cap trigger    the same, without migration 1050's trigger on the status (what
//                its WHEN clause costs every claim and outcome)
//   one user     herald and the hash index again, every row for one user (one application
//                user with many devices, a webhook user): a hash index keeps equal keys in
//                one bucket, whose chain of overflow pages every insertion walks
//   same shape   an UPDATE … SKIP LOCKED claim and an UPDATE … sent on the deliveries table,
//                without the lookups, events and fallback-step checks herald's statements make
//   plain        the same two statements on bench/support/peer-queue.ts's two-index table
//   heap-only claim   a prototype, not herald's code: the same-shape statements with the lease
//                in two columns no index covers and the status left 'pending' while leased, on a
//                table rewritten with fill factor 50, so the claim can be a heap-only update (the share that was is printed);
//                1,000 rows stay leased throughout (a worker's deliveries in flight), so every
//                claim also steps over them at the head of the runnable index
//   narrow queue   a prototype, not herald's code: the runnable and leased indexes of
//                `deliveries` replaced by a narrow queue table (delivery id, run time, lease,
//                attempts) beside it. The claim leases queue rows (a heap-only update) and reads
//                the delivery with its notification's payload; the outcome writes the delivery
//                once, deletes its queue row and inserts the event row herald writes. Making the
//                queue row at creation is a cost herald does not pay today: it is measured on its
//                own (an INSERT … SELECT of every row into the queue) and printed beside it
//
// Sizes: BENCH_QUEUE_SQL_ROWS (50000). Each variant runs BENCH_QUEUE_SQL_ROUNDS (3) times in
// turn; the median is shown. BENCH_QUEUE_SQL_VARIANTS=herald,plain,… runs some (herald and plain
// always).
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { NotificationService } from '../src/notifications/service.ts';
import { claimDue, recordOutcomes } from '../src/dispatch/repository.ts';
import { cpuSeconds } from './support/proc.ts';

const ROWS = Number(process.env.BENCH_QUEUE_SQL_ROWS ?? 50_000);
const ROUNDS = Number(process.env.BENCH_QUEUE_SQL_ROUNDS ?? 3);
const SLICE = 250;

type Variant = 'herald' | 'herald-hash' | 'herald-no-cap-trigger' | 'herald-one-user' | 'herald-hash-one-user' | 'same-shape' | 'heap-only' | 'narrow-queue' | 'plain';

/** PostgreSQL CPU µs per row the narrow-queue prototype's enqueue took, by round. */
const enqueueCosts: number[] = [];

async function load(db: TestDatabase, variant: Variant): Promise<void> {
  if (variant === 'plain') {
    await db.pool.query(`CREATE TABLE plain_jobs (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'pending', run_at timestamptz NOT NULL,
        attempts int NOT NULL DEFAULT 0, locked_until timestamptz, payload jsonb NOT NULL, sent_at timestamptz);
      CREATE INDEX plain_jobs_due ON plain_jobs (run_at) WHERE status IN ('pending', 'running')`);
    await db.pool.query(`INSERT INTO plain_jobs (run_at, payload) SELECT now(), jsonb_build_object('title', 'n' || g) FROM generate_series(1, $1::int) AS g`, [ROWS]);
  } else {
    // Due now, 1,000 users: the shape of the engine benchmark's burst (or all for one user).
    const users = variant.endsWith('one-user') ? 1 : 1000;
    const service = new NotificationService(db.pool);
    for (let i = 0; i < ROWS; i += 10_000) {
      const batch = Array.from({ length: Math.min(10_000, ROWS - i) }, (_, j) => ({ to: { userId: `u${(i + j) % users}` }, title: `n${i + j}`, channels: ['webhook' as const] }));
      await service.createMany(batch, { source: 'bench' });
    }
    if (variant.startsWith('herald-hash')) await db.pool.query('DROP INDEX deliveries_user; CREATE INDEX deliveries_user ON deliveries USING hash (user_id)');
    if (variant === 'herald-no-cap-trigger') await db.pool.query('DROP TRIGGER deliveries_cap_usage_uncount ON deliveries');
    if (variant === 'narrow-queue') {
      await db.pool.query(`DROP INDEX deliveries_runnable; DROP INDEX deliveries_leased;
        CREATE TABLE delivery_queue (delivery_id bigint PRIMARY KEY, run_at timestamptz NOT NULL, attempts int NOT NULL DEFAULT 0,
                                     lease_until timestamptz, lease_by text) WITH (fillfactor = 50);
        CREATE INDEX delivery_queue_due ON delivery_queue (run_at)`);
      const pid = (await db.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const before = cpuUs(pid);
      await db.pool.query(`INSERT INTO delivery_queue (delivery_id, run_at) SELECT id, run_at FROM deliveries WHERE status = 'pending'`);
      enqueueCosts.push((cpuUs(pid) - before) / ROWS);
    }
    if (variant === 'heap-only') {
      await db.pool.query(`ALTER TABLE deliveries ADD COLUMN lease_until timestamptz, ADD COLUMN lease_by text`);
      await db.pool.query(`ALTER TABLE deliveries SET (fillfactor = 50)`);
      await db.pool.query(`VACUUM FULL deliveries`);
      // A worker's deliveries in flight: leased, not yet recorded, at the head of the index.
      await db.pool.query(`UPDATE deliveries SET lease_until = now() + interval '1 hour', lease_by = 'other'
                            WHERE id IN (SELECT id FROM deliveries ORDER BY run_at, id LIMIT ${IN_FLIGHT})`);
    }
  }
  await db.pool.query('VACUUM ANALYZE');
}

const SAME_SHAPE_CLAIM = `UPDATE deliveries d SET status = 'sending', run_at = now() + interval '60 seconds', locked_by = 'w1', attempts = d.attempts + 1, updated_at = now()
   WHERE d.id = ANY (ARRAY(SELECT id FROM deliveries WHERE status IN ('pending', 'sending') AND run_at <= now() ORDER BY run_at LIMIT ${SLICE} FOR UPDATE SKIP LOCKED))
   RETURNING d.id::text AS id`;
const SAME_SHAPE_SENT = `UPDATE deliveries d SET status = 'sent', sent_at = now(), locked_by = NULL, updated_at = now()
   FROM unnest($1::bigint[]) AS v(id) WHERE d.id = v.id AND d.status = 'sending'`;
const IN_FLIGHT = 1000;
const HEAP_ONLY_CLAIM = `UPDATE deliveries d SET lease_until = now() + interval '60 seconds', lease_by = 'w1', attempts = d.attempts + 1
   WHERE d.id = ANY (ARRAY(SELECT id FROM deliveries WHERE status = 'pending' AND run_at <= now() AND (lease_until IS NULL OR lease_until < now())
                            ORDER BY run_at LIMIT ${SLICE} FOR UPDATE SKIP LOCKED))
   RETURNING d.id::text AS id`;
const HEAP_ONLY_SENT = `UPDATE deliveries d SET status = 'sent', sent_at = now(), lease_until = NULL, lease_by = NULL, updated_at = now()
   FROM unnest($1::bigint[]) AS v(id) WHERE d.id = v.id AND d.status = 'pending' AND d.lease_by = 'w1'`;
const NARROW_CLAIM = `WITH c AS (
     UPDATE delivery_queue q SET lease_until = now() + interval '60 seconds', lease_by = 'w1', attempts = q.attempts + 1
      WHERE q.delivery_id = ANY (ARRAY(SELECT delivery_id FROM delivery_queue WHERE run_at <= now() AND (lease_until IS NULL OR lease_until < now())
                                        ORDER BY run_at LIMIT ${SLICE} FOR UPDATE SKIP LOCKED))
      RETURNING q.delivery_id, q.attempts)
   SELECT d.id::text AS id, c.attempts, d.channel, d.user_id, n.payload FROM c JOIN deliveries d ON d.id = c.delivery_id JOIN notifications n ON n.id = d.notification_id`;
const NARROW_SENT = `WITH v AS (SELECT id FROM unnest($1::bigint[]) AS v(id) WHERE (SELECT set_config('herald.events_notify', 'off', true)) = 'off'),
   upd AS (UPDATE deliveries d SET status = 'sent', sent_at = now(), attempts = d.attempts + 1, updated_at = now()
             FROM v WHERE d.id = v.id AND d.status = 'pending' RETURNING d.id, d.notification_id, d.user_id, d.channel),
   gone AS (DELETE FROM delivery_queue q USING upd WHERE q.delivery_id = upd.id),
   ev AS (INSERT INTO events (user_id, type, item_type, item_id, data)
          SELECT user_id, 'notification:sent', 'notification', notification_id::text, jsonb_build_object('deliveryId', id::text, 'channel', channel) FROM upd)
   SELECT count(*)::int AS n FROM upd`;
const PLAIN_CLAIM = `UPDATE plain_jobs SET status = 'running', attempts = attempts + 1, locked_until = now() + interval '30 seconds'
   WHERE id = ANY (ARRAY(SELECT id FROM plain_jobs WHERE status IN ('pending', 'running') AND run_at <= now() ORDER BY run_at LIMIT ${SLICE} FOR UPDATE SKIP LOCKED))
   RETURNING id::text AS id, payload`;
const PLAIN_SENT = `UPDATE plain_jobs SET status = 'sent', sent_at = now(), locked_until = NULL WHERE id = ANY ($1::bigint[])`;

async function claim(db: TestDatabase, variant: Variant): Promise<string[]> {
  if (variant === 'plain') return (await db.pool.query<{ id: string }>({ name: 'plain-claim', text: PLAIN_CLAIM })).rows.map((r) => r.id);
  if (variant === 'same-shape') return (await db.pool.query<{ id: string }>({ name: 'shape-claim', text: SAME_SHAPE_CLAIM })).rows.map((r) => r.id);
  if (variant === 'heap-only') return (await db.pool.query<{ id: string }>({ name: 'heap-claim', text: HEAP_ONLY_CLAIM })).rows.map((r) => r.id);
  if (variant === 'narrow-queue') return (await db.pool.query<{ id: string }>({ name: 'narrow-claim', text: NARROW_CLAIM })).rows.map((r) => r.id);
  return (await claimDue(db.pool, 'w1', SLICE, 60, ['webhook'])).map((j) => j.id);
}

async function record(db: TestDatabase, variant: Variant, ids: string[]): Promise<void> {
  if (variant === 'plain') await db.pool.query({ name: 'plain-sent', text: PLAIN_SENT, values: [ids] });
  else if (variant === 'same-shape') await db.pool.query({ name: 'shape-sent', text: SAME_SHAPE_SENT, values: [ids] });
  else if (variant === 'heap-only') await db.pool.query({ name: 'heap-sent', text: HEAP_ONLY_SENT, values: [ids] });
  else if (variant === 'narrow-queue') {
    const { rows } = await db.pool.query<{ n: number }>({ name: 'narrow-sent', text: NARROW_SENT, values: [ids] });
    if (rows[0]?.n !== ids.length) throw new Error(`narrow queue: recorded ${rows[0]?.n} of ${ids.length}`);
  }
  else await recordOutcomes(db.pool, ids.map((id) => ({ id, kind: 'sent' as const })));
}

/** CPU microseconds a process has used so far. */
const cpuUs = (pid: number) => cpuSeconds(pid) * 1e6;

interface Cost { claim: number; outcome: number; total: number; hotShare?: number }

async function run(variant: Variant): Promise<Cost> {
  const db = await createTestDatabase(1);
  try {
    await load(db, variant);
    const pid = (await db.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const hotSoFar = async () => {
      await db.pool.query('SELECT pg_stat_force_next_flush()'); // this backend's counts, into the view
      const { rows } = await db.pool.query<{ hot: string }>(`SELECT n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'deliveries'`);
      return Number(rows[0]?.hot ?? 0);
    };
    const hotBefore = variant === 'heap-only' ? await hotSoFar() : 0; // the set-up's leases were heap-only too
    let c = 0, o = 0, n = 0;
    for (;;) {
      const a = cpuUs(pid);
      const ids = await claim(db, variant);
      const b = cpuUs(pid);
      if (ids.length === 0) break;
      await record(db, variant, ids);
      c += b - a;
      o += cpuUs(pid) - b;
      n += ids.length;
    }
    const expected = variant === 'heap-only' ? ROWS - IN_FLIGHT : ROWS;
    if (n !== expected) throw new Error(`${variant}: drained ${n} of ${expected}`);
    let hotShare: number | undefined;
    // Outcomes change the status, so only claims can be heap-only.
    if (variant === 'heap-only') hotShare = ((await hotSoFar()) - hotBefore) / n;
    return { claim: c / n, outcome: o / n, total: (c + o) / n, ...(hotShare !== undefined ? { hotShare } : {}) };
  } finally {
    await db.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number) => x.toFixed(1);

const ALL: Variant[] = ['herald', 'herald-hash', 'herald-no-cap-trigger', 'herald-one-user', 'herald-hash-one-user', 'same-shape', 'heap-only', 'narrow-queue', 'plain'];
const picked = new Set((process.env.BENCH_QUEUE_SQL_VARIANTS ?? ALL.join(',')).split(',').concat('herald', 'plain'));
const variants = ALL.filter((v) => picked.has(v));
const costs = new Map<Variant, Cost[]>(variants.map((v) => [v, []]));
for (let r = 0; r < ROUNDS; r++) for (const v of variants) costs.get(v)!.push(await run(v));
const med = (v: Variant) => {
  const cs = costs.get(v)!;
  return { claim: median(cs.map((c) => c.claim)), outcome: median(cs.map((c) => c.outcome)), total: median(cs.map((c) => c.total)) };
};
const names: Record<Variant, string> = {
  herald: 'herald (claimDue + recordOutcomes)',
  'herald-hash': 'herald, deliveries_user as a hash index (before migration 1040)',
  'herald-no-cap-trigger': 'herald without the cap ledger\'s trigger (before migration 1050)',
  'herald-one-user': 'herald, every row for one user',
  'herald-hash-one-user': 'herald, every row for one user, hash index (before migration 1040)',
  'same-shape': 'same-shape UPDATEs on the deliveries table',
  'heap-only': 'prototype: same shape, the claim a heap-only update (lease in unindexed columns, 1,000 leased rows to step over)',
  'narrow-queue': 'prototype: a narrow queue table beside deliveries (claim leases a queue row; outcome writes the delivery once, deletes the queue row, adds the event)',
  plain: 'plain two-index table (the engine benchmark\'s peer)',
};
console.log(`\n| PostgreSQL CPU µs per delivery, ${ROWS.toLocaleString('en')} due, slices of ${SLICE}, median of ${ROUNDS} | claim | outcome | total | ÷ plain |`);
console.log('|---|---:|---:|---:|---:|');
const plain = med('plain');
for (const v of variants) {
  const m = med(v);
  console.log(`| ${names[v]} | ${fmt(m.claim)} | ${fmt(m.outcome)} | ${fmt(m.total)} | ${(m.total / plain.total).toFixed(2)} |`);
}
if (variants.includes('heap-only')) {
  const shares = costs.get('heap-only')!.map((c) => c.hotShare ?? 0);
  console.log(`(prototype: ${shares.map((x) => `${Math.round(x * 100)} %`).join(', ')} of its claims were heap-only updates)`);
}
if (variants.includes('narrow-queue')) {
  console.log(`(prototype: making the queue rows at creation took ${enqueueCosts.map(fmt).join(', ')} µs of PostgreSQL CPU per row, on top of what creation costs today)`);
}
const h = med('herald');
const summary = (figure: string, value: number, baseline: string, base: number) =>
  console.log(`SUMMARY ${JSON.stringify({ figure, value: Number(fmt(value)), baseline, baselineValue: Number(fmt(base)), ratio: Number((value / base).toFixed(2)) })}`);
summary('claim + outcome, PostgreSQL CPU µs per delivery (lower is better)', h.total, 'plain two-index table', plain.total);
if (variants.includes('herald-hash')) summary('claim + outcome, PostgreSQL CPU µs per delivery (lower is better)', h.total, 'hash deliveries_user (before migration 1040)', med('herald-hash').total);
if (variants.includes('herald-no-cap-trigger')) summary('claim + outcome, PostgreSQL CPU µs per delivery (lower is better)', h.total, 'no cap ledger trigger (before migration 1050)', med('herald-no-cap-trigger').total);
if (variants.includes('narrow-queue')) {
  summary('narrow-queue prototype: claim + outcome, PostgreSQL CPU µs per delivery (lower is better)', med('narrow-queue').total, 'herald (claimDue + recordOutcomes)', h.total);
  summary('narrow-queue prototype: claim + outcome + enqueue at creation (lower is better)', med('narrow-queue').total + median(enqueueCosts), 'herald (claimDue + recordOutcomes)', h.total);
}
if (variants.includes('herald-one-user') && variants.includes('herald-hash-one-user')) {
  summary('the same, every row for one user (lower is better)', med('herald-one-user').total, 'hash deliveries_user (before migration 1040)', med('herald-hash-one-user').total);
}
