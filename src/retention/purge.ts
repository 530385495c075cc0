import type { Queryable } from '../db/pool.ts';

/**
 * One retention pass, table by table, each step deleting at most `batch` rows per statement and
 * repeated until a statement deletes fewer (src/retention/job.ts). A row is old when it is older
 * than its app's `retention_days`, else HERALD_RETENTION_DAYS ($1, 0: keep for ever).
 *
 * What is never purged: a notification with a delivery still pending or sending (or due later:
 * its send time has not passed), an open digest or an item still waiting in a digest, and, when a
 * relay publishes events, an event not yet published ($3 = true). Rows are taken with SKIP LOCKED: a row a worker holds is left for the next pass,
 * so the purge never waits on the queue and the queue never waits on it.
 */
const FINAL = `('sent', 'failed', 'expired', 'cancelled', 'capped', 'digested')`;
const AGE = (createdAt: string, app: string) => `${createdAt} < now() - make_interval(days => COALESCE((SELECT retention_days FROM apps WHERE id = ${app}), $1::int))
  AND COALESCE((SELECT retention_days FROM apps WHERE id = ${app}), $1::int) > 0`;
/** The oldest a row can be and still be kept: nothing younger than the shortest retention is looked at. */
const FLOOR = (createdAt: string) => `${createdAt} < now() - make_interval(days => LEAST(NULLIF($1::int, 0), (SELECT min(retention_days) FROM apps)))`;

export interface PurgeStep {
  readonly table: string;
  readonly sql: string;
}

export const PURGE_STEPS: readonly PurgeStep[] = [
  {
    table: 'inbox_items',
    sql: `DELETE FROM inbox_items WHERE id IN (
            SELECT i.id FROM inbox_items i LEFT JOIN notifications n ON n.id = i.notification_id
             WHERE ${FLOOR('i.created_at')} AND ${AGE('i.created_at', "COALESCE(n.app_id, 'default')")}
             LIMIT $2 FOR UPDATE OF i SKIP LOCKED) AND $3::bool IS NOT NULL`,
  },
  {
    // Deliveries first, in batches (a broadcast may have millions), of finished notifications only.
    table: 'deliveries',
    sql: `DELETE FROM deliveries WHERE id IN (
            SELECT d.id FROM notifications n JOIN deliveries d ON d.notification_id = n.id
             WHERE ${FLOOR('n.created_at')} AND ${AGE('n.created_at', 'n.app_id')} AND n.send_at < now()
               AND d.status IN ${FINAL}
               AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.notification_id = n.id AND p.status IN ('pending', 'sending'))
             LIMIT $2 FOR UPDATE OF d SKIP LOCKED) AND $3::bool IS NOT NULL`,
  },
  {
    // Then the notifications (with their payloads) that have no delivery left.
    table: 'notifications',
    sql: `DELETE FROM notifications WHERE id IN (
            SELECT n.id FROM notifications n
             WHERE ${FLOOR('n.created_at')} AND ${AGE('n.created_at', 'n.app_id')} AND n.send_at < now()
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id)
             LIMIT $2 FOR UPDATE OF n SKIP LOCKED) AND $3::bool IS NOT NULL`,
  },
  {
    // Closed digests (migration 0911) age from when they closed, by their app's retention; an open
    // digest is never looked at. Their items first, in batches, except an item whose notification
    // still holds a delivery for the digest's user (pending or sending: still waiting).
    table: 'digest_items',
    sql: `DELETE FROM digest_items WHERE (digest_id, notification_id) IN (
            SELECT i.digest_id, i.notification_id FROM digests g JOIN digest_items i ON i.digest_id = g.id
             WHERE g.status = 'closed' AND ${FLOOR('g.closed_at')} AND ${AGE('g.closed_at', 'g.app_id')}
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = i.notification_id AND d.user_id = g.user_id AND d.status IN ('pending', 'sending'))
             LIMIT $2 FOR UPDATE OF i SKIP LOCKED) AND $3::bool IS NOT NULL`,
  },
  {
    // Then the closed digests that have no item left.
    table: 'digests',
    sql: `DELETE FROM digests WHERE id IN (
            SELECT g.id FROM digests g
             WHERE g.status = 'closed' AND ${FLOOR('g.closed_at')} AND ${AGE('g.closed_at', 'g.app_id')}
               AND NOT EXISTS (SELECT 1 FROM digest_items i WHERE i.digest_id = g.id)
             LIMIT $2 FOR UPDATE OF g SKIP LOCKED) AND $3::bool IS NOT NULL`,
  },
  {
    table: 'events',
    sql: `DELETE FROM events WHERE id IN (
            SELECT e.id FROM events e
             WHERE $1::int > 0 AND e.created_at < now() - make_interval(days => $1::int)
               AND (e.published_at IS NOT NULL OR NOT $3::bool)
             LIMIT $2 FOR UPDATE SKIP LOCKED)`,
  },
  // The frequency-cap ledger (migration 0910): rows no cap window can reach any more, whatever
  // the retention (at least a day is kept, for a cap made longer meanwhile). The send path only
  // reads the window it needs; removing the rest here keeps that cleanup off every send.
  {
    table: 'cap_usage',
    sql: `DELETE FROM cap_usage WHERE delivery_id IN (
            SELECT c.delivery_id FROM cap_usage c LEFT JOIN notification_types t ON t.app_id = c.app_id AND t.key = c.type_key
             WHERE c.sent_at < now() - interval '1 day'
               AND c.sent_at < now() - make_interval(secs => greatest(COALESCE((t.cap->>'perSeconds')::float8, 0), 86400))
             LIMIT $2 FOR UPDATE OF c SKIP LOCKED) AND $1::int IS NOT NULL AND $3::bool IS NOT NULL`,
  },
  // Counters of windows long over (they are only ever read for the current window).
  { table: 'rate_limits', sql: `DELETE FROM rate_limits WHERE bucket IN (SELECT bucket FROM rate_limits WHERE window_start < now() - interval '1 day' LIMIT $2::int) AND $1::int IS NOT NULL AND $3::bool IS NOT NULL` },
];

export interface PurgeOptions {
  /** HERALD_RETENTION_DAYS; 0 keeps rows for ever unless their app says otherwise. */
  readonly days: number;
  readonly batch: number;
  /** A relay publishes events: keep the unpublished ones whatever their age. */
  readonly relayPublishes: boolean;
}

/** One statement of one step: how many rows it removed. Every step takes ($1 days, $2 batch, $3 relay publishes). */
export async function purgeBatch(db: Queryable, step: PurgeStep, options: PurgeOptions): Promise<number> {
  const params = [options.days, options.batch, options.relayPublishes];
  const { rowCount } = await db.query(step.sql, params);
  return rowCount ?? 0;
}
