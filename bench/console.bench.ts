/**
 * The console's queries on a deliveries table of millions, and what its indexes cost the engine.
 *
 * 1. Statistics: GET /v1/stats/deliveries's query (the per-minute rollup plus the outcome events
 *    not folded yet) against the same numbers aggregated straight from the deliveries table (what
 *    a console without the rollup would run; no index serves it), for a 1-hour and a 24-hour
 *    window, on ROWS finished deliveries (and their outcome events) spread over 24 hours.
 * 2. A dead-letter page (error filter) and a user search page, beside a bare `SELECT 1` round trip.
 * 3. What the console's one index on deliveries (failed rows only) costs the outcome writes: ROWS_WRITE leased
 *    deliveries set to `sent` in slices of 500 (the engine's statement shape), with the indexes
 *    and without them, alternating, best of ROUNDS.
 *
 *   npm run bench -- console
 */
import { performance } from 'node:perf_hooks';
import { createTestDatabase } from '../test/helpers/db.ts';
import { overview } from '../src/console/overview.ts';
import { foldOutcomes, FOLD_STEP } from '../src/console/stats.ts';
import { searchDeadLetters } from '../src/console/dead-letters.ts';
import { searchUsers } from '../src/console/user-search.ts';

const ROWS = Number(process.env.HERALD_BENCH_CONSOLE_ROWS ?? 1_000_000);
const USERS = Number(process.env.HERALD_BENCH_CONSOLE_USERS ?? 200_000);
const ROWS_WRITE = Number(process.env.HERALD_BENCH_CONSOLE_WRITE_ROWS ?? 100_000);
const ROUNDS = Number(process.env.HERALD_BENCH_ROUNDS ?? 3);
const REPEAT = 20;

const db = await createTestDatabase(4);
const pool = db.pool;

async function timeMs(fn: () => Promise<unknown>, repeat = REPEAT): Promise<{ p50: number; min: number }> {
  await fn(); // warm
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length / 2)]!, min: times[0]! };
}
const fmt = (ms: number) => `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;

try {
  // ---- data: ROWS finished deliveries over 24 hours (97 % sent, 2 % failed, 1 % expired), a
  // thousand per notification, and USERS users.
  let t = performance.now();
  await pool.query(
    `INSERT INTO notifications (id, user_ids, channels, payload, send_at, source)
     SELECT 'n' || g, ARRAY['u' || g], ARRAY['webhook'], '{"title":"bench"}'::jsonb, now() - interval '1 day', 'bench'
       FROM generate_series(0, $1::int / 1000) g`,
    [ROWS],
  );
  await pool.query(
    `INSERT INTO deliveries (notification_id, user_id, channel, provider, status, due_at, run_at, sent_at, updated_at, attempts, last_error)
     SELECT 'n' || (g / 1000), 'u' || (g % $2::int),
            (ARRAY['push', 'push', 'email', 'webhook', 'inbox'])[1 + g % 5],
            (ARRAY['apns', 'fcm', 'email', 'webhook', 'inbox'])[1 + g % 5],
            CASE WHEN g % 100 < 2 THEN 'failed' WHEN g % 100 = 2 THEN 'expired' ELSE 'sent' END,
            ts - (g % 50) * interval '1 ms', ts, ts, ts, 1,
            CASE WHEN g % 100 < 2 THEN 'provider answered ' || (400 + g % 7) END
       FROM generate_series(1, $1::int) g, LATERAL (SELECT now() - interval '24 hours' + (g::float8 / $1::int) * interval '24 hours' - interval '10 seconds' AS ts) x`,
    [ROWS, USERS],
  );
  // The outcome events the engine appends with each outcome (what the rollup is folded from).
  await pool.query(
    `INSERT INTO events (user_id, type, item_type, item_id, data, created_at, published_at)
     SELECT user_id, 'notification:' || status, 'notification', notification_id,
            jsonb_build_object('deliveryId', id::text, 'channel', channel, 'provider', provider, 'attempts', 1), updated_at, updated_at
       FROM deliveries ORDER BY id`,
  );
  await pool.query(
    `INSERT INTO users (id, email) SELECT 'user-' || lpad(g::text, 7, '0'), 'person' || g || '@example.com' FROM generate_series(1, $1::int) g`,
    [USERS],
  );
  await pool.query('VACUUM ANALYZE deliveries');
  await pool.query('VACUUM ANALYZE users');
  await pool.query('VACUUM ANALYZE events');
  console.log(`data: ${ROWS.toLocaleString()} deliveries over 24 h, ${USERS.toLocaleString()} users (${((performance.now() - t) / 1000).toFixed(1)} s)`);

  t = performance.now();
  let folds = 0;
  for (;;) {
    folds++;
    if ((await foldOutcomes(pool)) !== 'more') break;
  }
  const foldMs = performance.now() - t;
  const rollupRows = (await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM delivery_minutes')).rows[0]!.n;
  console.log(`fold: ${ROWS.toLocaleString()} outcome events in ${folds} folds of ≤ ${FOLD_STEP.toLocaleString()}, ${fmt(foldMs)} in all (${Math.round(ROWS / (foldMs / 1000)).toLocaleString()} events/s); rollup ${rollupRows} rows`);

  // ---- 1. statistics
  const direct = (minutes: number) => pool.query(
    `SELECT date_trunc('minute', updated_at), channel, provider, status,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY sent_at - due_at), percentile_cont(0.99) WITHIN GROUP (ORDER BY sent_at - due_at), count(*)
       FROM deliveries WHERE status IN ('sent', 'failed', 'expired') AND updated_at >= date_trunc('minute', now()) - ($1::int - 1) * interval '1 minute'
      GROUP BY 1, 2, 3, 4`,
    [minutes],
  );
  console.log('\nstatistics (p50 of 20 calls)          console (rollup)   straight from deliveries   ratio');
  for (const minutes of [60, 1440]) {
    const a = await timeMs(() => overview(pool, minutes));
    const b = await timeMs(() => direct(minutes), minutes > 60 ? 5 : REPEAT);
    console.log(`  window ${String(minutes).padStart(4)} min                        ${fmt(a.p50).padStart(10)}   ${fmt(b.p50).padStart(18)}        ${(b.p50 / a.p50).toFixed(1)}×`);
  }

  // ---- 2. pages
  const floor = await timeMs(() => pool.query('SELECT 1'));
  const dead = await timeMs(() => searchDeadLetters(pool, { error: 'answered 403', channel: 'push', limit: 50 }));
  const deadFirst = await searchDeadLetters(pool, { limit: 50 });
  const deadNext = await timeMs(() => searchDeadLetters(pool, { limit: 50, cursor: deadFirst.nextCursor }));
  const users = await timeMs(() => searchUsers(pool, 'user-01', 50, undefined));
  const emails = await timeMs(() => searchUsers(pool, 'person12@', 50, undefined));
  console.log(`\npages (p50 of 20)   SELECT 1 round trip ${fmt(floor.p50)}`);
  console.log(`  dead letters, push + error text          ${fmt(dead.p50).padStart(9)}  (${(dead.p50 / floor.p50).toFixed(1)}× the round trip)`);
  console.log(`  dead letters, second page (cursor)       ${fmt(deadNext.p50).padStart(9)}  (${(deadNext.p50 / floor.p50).toFixed(1)}×)`);
  console.log(`  users by id prefix                       ${fmt(users.p50).padStart(9)}  (${(users.p50 / floor.p50).toFixed(1)}×)`);
  console.log(`  users by e-mail prefix                   ${fmt(emails.p50).padStart(9)}  (${(emails.p50 / floor.p50).toFixed(1)}×)`);

  // ---- 3. what the indexes cost the outcome writes
  await pool.query(`TRUNCATE deliveries, delivery_minutes, events`);
  await pool.query(
    `INSERT INTO deliveries (notification_id, channel, provider, status, due_at, run_at)
     SELECT 'n0', 'webhook', 'webhook', 'sending', now(), now() + interval '1 minute' FROM generate_series(1, $1::int) g`,
    [ROWS_WRITE],
  );
  await pool.query('VACUUM ANALYZE deliveries');
  const ids = (await pool.query<{ id: string }>('SELECT id::text FROM deliveries ORDER BY id')).rows.map((r) => r.id);
  const writeAll = async (): Promise<number> => {
    const start = performance.now();
    for (let i = 0; i < ids.length; i += 500) {
      const slice = ids.slice(i, i + 500);
      await pool.query(
        `UPDATE deliveries d SET status = 'sent', sent_at = now(), locked_by = NULL, updated_at = now()
           FROM unnest($1::bigint[]) AS v(id) WHERE d.id = v.id AND d.status = 'sending'`,
        [slice],
      );
    }
    const rate = ids.length / ((performance.now() - start) / 1000);
    await pool.query(`UPDATE deliveries SET status = 'sending', sent_at = NULL`);
    await pool.query('VACUUM deliveries');
    return rate;
  };
  const INDEXES = `CREATE INDEX deliveries_dead_letters ON deliveries (updated_at DESC, id DESC) WHERE status = 'failed'`;
  let withIdx = 0;
  let without = 0;
  for (let r = 0; r < ROUNDS; r++) {
    withIdx = Math.max(withIdx, await writeAll());
    await pool.query('DROP INDEX deliveries_dead_letters');
    without = Math.max(without, await writeAll());
    await pool.query(INDEXES);
  }
  console.log(`\noutcome writes, ${ROWS_WRITE.toLocaleString()} rows in slices of 500 (best of ${ROUNDS}): with the console's index ${Math.round(withIdx).toLocaleString()}/s, without ${Math.round(without).toLocaleString()}/s: ${(withIdx / without).toFixed(2)}×`);
} finally {
  await db.close();
}
