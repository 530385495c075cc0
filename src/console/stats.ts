import type { Pool, Queryable } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';

/**
 * Delivery outcomes per minute for the console's overview, from the `delivery_minutes` rollup
 * (migrations/0700_console.sql) plus the outcome events not folded into it yet. The rollup is
 * folded from the events the outcome writer appends anyway (`notification:sent|failed|expired`
 * with deliveryId, channel and provider), read by the events primary key: neither the fold nor
 * a poll scans a table, and the engine's writes carry no extra index.
 */

/** Upper bounds (ms) of the lateness buckets; bucket k holds lateness in [BOUNDS[k-1], BOUNDS[k]), the last bucket everything above. */
export const LATENESS_BOUNDS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000] as const;
export const OUTCOMES = ['sent', 'failed', 'expired'] as const;

/** Events younger than this are left to the live part: a transaction with a lower id may still be open. */
const FOLD_LAG = '5 seconds';
/** At most this many events per fold, so catching up is a series of bounded statements. */
export const FOLD_STEP = 200_000;
/** At most this many of the newest events after the last fold are read live by a poll (a fold far behind shows the newest). */
const LIVE_CAP = 200_000;
/** Rollup rows kept (older events are skipped by a fold that catches up). */
export const RETENTION_DAYS = 7;

/**
 * One outcome event as a rollup key: minute, channel, provider, outcome and lateness bucket (from
 * the delivery row, by primary key). `e` is a set of events; only outcome events that name their
 * delivery count.
 */
const OUTCOME_ROWS = `
  SELECT date_trunc('minute', e.created_at) AS minute, e.data->>'channel' AS channel, e.data->>'provider' AS provider,
         substr(e.type, 14) AS outcome,
         CASE WHEN e.type = 'notification:sent'
              THEN coalesce(width_bucket(extract(epoch FROM coalesce(d.sent_at, e.created_at) - d.due_at) * 1000, $1::float8[]), 0)
              ELSE 0 END AS bucket,
         count(*) AS count
    FROM e
    LEFT JOIN deliveries d ON e.type = 'notification:sent' AND d.id = CASE WHEN e.data->>'deliveryId' ~ '^[0-9]{1,18}$' THEN (e.data->>'deliveryId')::bigint END
   WHERE e.type IN ('notification:sent', 'notification:failed', 'notification:expired')
     AND e.data ? 'deliveryId' AND e.data->>'channel' IS NOT NULL AND e.data->>'provider' IS NOT NULL
   GROUP BY 1, 2, 3, 4, 5`;

export type FoldResult = 'busy' | 'caught-up' | 'more';

/**
 * Fold the next outcome events into the rollup. Whoever holds the state row's lock folds; another
 * process trying at the same moment gets 'busy' (SKIP LOCKED), so any number of API replicas may
 * run the loop. 'more': the step was full, fold again at once.
 */
export async function foldOutcomes(pool: Pool): Promise<FoldResult> {
  return withTransaction(pool, async (db) => {
    const state = await db.query<{ folded_id: string }>(`SELECT folded_id::text FROM delivery_minutes_state FOR UPDATE SKIP LOCKED`);
    const from = state.rows[0]?.folded_id;
    if (from === undefined) return 'busy';
    // The last event of this step that is old enough; the step is the next FOLD_STEP ids.
    const { rows } = await db.query<{ upto: string | null; full: boolean }>(
      `SELECT max(id) FILTER (WHERE created_at < now() - interval '${FOLD_LAG}')::text AS upto, count(*) = $2 AS full
         FROM (SELECT id, created_at FROM events WHERE id > $1::bigint ORDER BY id LIMIT $2) s`,
      [from, FOLD_STEP],
    );
    const upto = rows[0]?.upto;
    if (upto) {
      await db.query(
        `WITH e AS (SELECT * FROM events WHERE id > $2::bigint AND id <= $3::bigint AND created_at >= now() - interval '${RETENTION_DAYS} days')
         INSERT INTO delivery_minutes AS m (minute, channel, provider, outcome, lateness_bucket, count)
         ${OUTCOME_ROWS}
         ON CONFLICT (minute, channel, provider, outcome, lateness_bucket) DO UPDATE SET count = m.count + EXCLUDED.count`,
        [LATENESS_BOUNDS_MS, from, upto],
      );
      await db.query(`UPDATE delivery_minutes_state SET folded_id = $1::bigint`, [upto]);
    }
    await db.query(`DELETE FROM delivery_minutes WHERE minute < now() - interval '${RETENTION_DAYS} days'`);
    return upto && rows[0]?.full ? 'more' : 'caught-up';
  });
}

export interface MinuteRow {
  readonly minute: Date;
  readonly channel: string;
  readonly provider: string;
  readonly outcome: string;
  readonly bucket: number;
  readonly count: number;
}

/** The chart step for a window: per minute up to two hours, then coarser, so a poll returns at most a few thousand rows. */
export function stepFor(minutes: number): number {
  return minutes <= 120 ? 1 : minutes <= 360 ? 5 : 15;
}

/**
 * Outcome counts of the last `minutes` minutes (the current one included) in steps of `step`
 * minutes, rollup and live part together, summed in PostgreSQL per step.
 */
export async function minuteRows(db: Queryable, minutes: number, step: number): Promise<{ from: Date; now: Date; rows: MinuteRow[] }> {
  const bounds = await db.query<{ from: Date; now: Date }>(
    `SELECT date_trunc('minute', now()) - ($1::int - 1) * interval '1 minute' AS from, now() AS now`,
    [minutes],
  );
  const { from, now } = bounds.rows[0]!;
  const { rows } = await db.query<{ minute: Date; channel: string; provider: string; outcome: string; bucket: number; count: string }>(
    `WITH e AS (SELECT * FROM (SELECT * FROM events WHERE id > (SELECT folded_id FROM delivery_minutes_state) ORDER BY id DESC LIMIT ${LIVE_CAP}) l
                 WHERE l.created_at >= $2::timestamptz),
     live AS (${OUTCOME_ROWS}),
     r AS (
       SELECT m.minute, m.channel, m.provider, m.outcome, m.lateness_bucket AS bucket, m.count
         FROM delivery_minutes m WHERE m.minute >= $2::timestamptz
       UNION ALL
       SELECT minute, channel, provider, outcome, bucket, count FROM live)
     SELECT date_bin($3::int * interval '1 minute', r.minute, $2::timestamptz) AS minute, r.channel, r.provider, r.outcome, r.bucket::int AS bucket, sum(r.count)::text AS count
       FROM r GROUP BY 1, 2, 3, 4, 5`,
    [LATENESS_BOUNDS_MS, from, step],
  );
  return {
    from,
    now,
    rows: rows.map((r) => ({ minute: r.minute, channel: r.channel, provider: r.provider, outcome: r.outcome, bucket: r.bucket, count: Number(r.count) })),
  };
}

/** The lateness a share `q` of the sent deliveries stayed within, from bucket counts (an upper bound, in ms). */
export function percentile(buckets: ReadonlyMap<number, number>, q: number): number | null {
  const total = [...buckets.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const target = q * total;
  let seen = 0;
  for (const k of [...buckets.keys()].sort((a, b) => a - b)) {
    seen += buckets.get(k)!;
    if (seen >= target) return LATENESS_BOUNDS_MS[Math.min(k, LATENESS_BOUNDS_MS.length - 1)]!;
  }
  return LATENESS_BOUNDS_MS.at(-1)!;
}
