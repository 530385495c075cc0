import type { Pool, Queryable } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';

/**
 * Delivery outcomes per minute for the console's overview, from the `delivery_minutes` rollup
 * (migrations/0700_console.sql) plus the few outcomes not folded into it yet. Neither part
 * scans the deliveries table: the rollup is read by its primary key's minute range, the recent
 * outcomes by the `deliveries_outcomes` index from `folded_to` on.
 */

/** Upper bounds (ms) of the lateness buckets; bucket k holds lateness in [BOUNDS[k-1], BOUNDS[k]), the last bucket everything above. */
export const LATENESS_BOUNDS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000] as const;
export const OUTCOMES = ['sent', 'failed', 'expired', 'cancelled'] as const;

/** Outcomes younger than this are left to the live part: a writer's transaction may still be open. */
const FOLD_LAG = '5 seconds';
/** At most this much per fold, so catching up after a pause is a series of small statements. */
const FOLD_STEP = '10 minutes';
/** Rollup rows kept (and the furthest back a fold starts). */
export const RETENTION_DAYS = 7;

const BUCKET = `CASE WHEN d.status = 'sent'
  THEN width_bucket(extract(epoch FROM coalesce(d.sent_at, d.updated_at) - d.due_at) * 1000, $1::float8[]) ELSE 0 END`;

/**
 * Fold finished outcomes into the rollup. Whoever holds the state row's lock folds; another
 * process trying at the same moment skips (SKIP LOCKED), so any number of API replicas may run
 * the loop. Returns whether this call folded.
 */
export async function foldOutcomes(pool: Pool): Promise<boolean> {
  return withTransaction(pool, async (db) => {
    const { rows } = await db.query<{ start: string; upto: string; ahead: boolean }>(
      `SELECT s.start::text, s.upto::text, s.upto > s.start AS ahead
         FROM (SELECT greatest(folded_to, now() - interval '${RETENTION_DAYS} days') AS start FROM delivery_minutes_state FOR UPDATE SKIP LOCKED) f,
              LATERAL (SELECT f.start, least(f.start + interval '${FOLD_STEP}', now() - interval '${FOLD_LAG}') AS upto) s`,
    );
    const state = rows[0];
    if (!state) return false;
    if (state.ahead) {
      await db.query(
        `INSERT INTO delivery_minutes AS m (minute, channel, provider, outcome, lateness_bucket, count)
         SELECT date_trunc('minute', d.updated_at), d.channel, d.provider, d.status, ${BUCKET}, count(*)
           FROM deliveries d
          WHERE d.status IN ('sent', 'failed', 'expired', 'cancelled') AND d.updated_at >= $2::timestamptz AND d.updated_at < $3::timestamptz
          GROUP BY 1, 2, 3, 4, 5
         ON CONFLICT (minute, channel, provider, outcome, lateness_bucket) DO UPDATE SET count = m.count + EXCLUDED.count`,
        [LATENESS_BOUNDS_MS, state.start, state.upto],
      );
      await db.query(`UPDATE delivery_minutes_state SET folded_to = $1::timestamptz`, [state.upto]);
    }
    await db.query(`DELETE FROM delivery_minutes WHERE minute < now() - interval '${RETENTION_DAYS} days'`);
    return true;
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

/** Outcome counts of the last `minutes` minutes (the current one included), rollup and live part together. */
export async function minuteRows(db: Queryable, minutes: number): Promise<{ from: Date; now: Date; rows: MinuteRow[] }> {
  const bounds = await db.query<{ from: Date; now: Date }>(
    `SELECT date_trunc('minute', now()) - ($1::int - 1) * interval '1 minute' AS from, now() AS now`,
    [minutes],
  );
  const { from, now } = bounds.rows[0]!;
  const { rows } = await db.query<{ minute: Date; channel: string; provider: string; outcome: string; bucket: number; count: string }>(
    `WITH r AS (
       SELECT m.minute, m.channel, m.provider, m.outcome, m.lateness_bucket AS bucket, m.count
         FROM delivery_minutes m WHERE m.minute >= $2::timestamptz
       UNION ALL
       SELECT date_trunc('minute', d.updated_at), d.channel, d.provider, d.status, ${BUCKET}, count(*)
         FROM deliveries d
        WHERE d.status IN ('sent', 'failed', 'expired', 'cancelled')
          AND d.updated_at >= greatest((SELECT folded_to FROM delivery_minutes_state), $2::timestamptz)
        GROUP BY 1, 2, 3, 4, 5)
     SELECT r.minute, r.channel, r.provider, r.outcome, r.bucket::int AS bucket, sum(r.count)::text AS count
       FROM r GROUP BY 1, 2, 3, 4, 5 ORDER BY 1`,
    [LATENESS_BOUNDS_MS, from],
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
