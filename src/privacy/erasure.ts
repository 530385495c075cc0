import type { Queryable } from '../db/pool.ts';

/**
 * Erasing a user (`DELETE /v1/users/{userId}`, docs/privacy.md): one step per table that can hold
 * something about them, run in order in one transaction after the engine has cancelled what was
 * pending. `$1` is the user id, `$2` their e-mail address (or null). A table added later that
 * holds user data adds one line here; test/erasure.test.ts scans every text and JSON column of
 * every table for the user's id and address after an erasure, so a forgotten table fails it.
 *
 * A caller key `user:<app>:<id>` (idempotency records, rate-limit buckets, event actors) is
 * matched exactly: app ids contain no ':', so the middle part is the app.
 */
const CALLER = (column: string) => `(${column} LIKE 'user:%' AND ${column} = 'user:' || split_part(${column}, ':', 2) || ':' || $1)`;

export interface ErasureStep {
  readonly table: string;
  readonly sql: string;
}

export const ERASURE_STEPS: readonly ErasureStep[] = [
  // Notifications only they received go with their payloads (and, by cascade, deliveries);
  // from one sent to several users only their id is taken out.
  { table: 'notifications', sql: `DELETE FROM notifications WHERE user_ids @> ARRAY[$1]::text[] AND cardinality(user_ids) = 1` },
  { table: 'notifications', sql: `UPDATE notifications SET user_ids = array_remove(user_ids, $1) WHERE user_ids @> ARRAY[$1]::text[]` },
  { table: 'deliveries', sql: `DELETE FROM deliveries WHERE user_id = $1` },
  { table: 'inbox_items', sql: `DELETE FROM inbox_items WHERE user_id = $1` },
  { table: 'devices', sql: `DELETE FROM devices WHERE user_id = $1` },
  { table: 'reminders', sql: `DELETE FROM reminders WHERE user_id = $1` },
  // Their events, published or not: the tombstone written after these steps is what consumers see.
  { table: 'events', sql: `DELETE FROM events WHERE user_id = $1` },
  { table: 'events', sql: `UPDATE events SET actor = NULL WHERE ${CALLER('actor')}` },
  // Stored answers of idempotent requests made by them, about them, or showing their address.
  {
    table: 'idempotency_keys',
    sql: `DELETE FROM idempotency_keys WHERE ${CALLER('caller')} OR strpos(path, '/' || $1) > 0
             OR strpos(response_body::text, $1) > 0 OR ($2::text IS NOT NULL AND strpos(response_body::text, $2) > 0)`,
  },
  { table: 'rate_limits', sql: `DELETE FROM rate_limits WHERE ${CALLER('bucket')}` },
  { table: 'app_users', sql: `DELETE FROM app_users WHERE user_id = $1` },
  { table: 'topic_subscriptions', sql: `DELETE FROM topic_subscriptions WHERE user_id = $1` },
  { table: 'user_type_preferences', sql: `DELETE FROM user_type_preferences WHERE user_id = $1` },
  { table: 'unsubscribe_uses', sql: `DELETE FROM unsubscribe_uses WHERE user_id = $1` },
  // Timing rules (docs/timing.md): the frequency-cap ledger and the user's digests with their items.
  { table: 'cap_usage', sql: `DELETE FROM cap_usage WHERE user_id = $1` },
  { table: 'digests', sql: `DELETE FROM digests WHERE user_id = $1` },
  { table: 'users', sql: `DELETE FROM users WHERE id = $1` },
];

/** Run every step; the caller holds the transaction and the user's row lock. */
export async function eraseUser(db: Queryable, userId: string, email: string | null): Promise<Record<string, number>> {
  const removed: Record<string, number> = {};
  for (const step of ERASURE_STEPS) {
    const usesEmail = step.sql.includes('$2');
    const { rowCount } = await db.query(step.sql, usesEmail ? [userId, email] : [userId]);
    removed[step.table] = (removed[step.table] ?? 0) + (rowCount ?? 0);
  }
  return removed;
}
