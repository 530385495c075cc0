import type { Pool, Queryable } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { validation } from '../errors/index.ts';
import { appendEvents } from '../events/outbox.ts';
import { notifyDeliveriesDue } from '../dispatch/wakeup.ts';
import { decodeCursor, encodeCursor, likePattern } from './cursor.ts';

/**
 * Dead letters: deliveries that failed for good (attempts exhausted, a permanent provider
 * verdict, an invalid device). Read newest first by keyset pages over the small partial index
 * `deliveries_dead_letters`; re-driven as a selection.
 */
export interface DeadLetterFilter {
  readonly appId?: string | undefined;
  readonly channel?: string | undefined;
  readonly provider?: string | undefined;
  /** Case-insensitive text the last error contains. */
  readonly error?: string | undefined;
  readonly limit: number;
  readonly cursor?: string | undefined;
}

export interface DeadLetter {
  readonly id: string;
  readonly notificationId: string;
  readonly userId: string | null;
  readonly deviceId: string | null;
  readonly appId: string;
  readonly channel: string;
  readonly provider: string;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly lastErrorDetail: string | null;
  readonly failedAt: string;
  readonly createdAt: string;
}

export async function searchDeadLetters(db: Queryable, f: DeadLetterFilter): Promise<{ items: DeadLetter[]; nextCursor?: string }> {
  const after = decodeCursor(f.cursor, 2);
  if (after && (!/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d)?$/.test(after[0]!) || !/^[1-9]\d{0,18}$/.test(after[1]!))) {
    throw validation('query.cursor: not a cursor from a previous page', [{ field: 'query.cursor', message: 'pass nextCursor from a previous page unchanged' }]);
  }
  const { rows } = await db.query<{ id: string; notification_id: string; user_id: string | null; device_id: string | null; app_id: string; channel: string; provider: string; attempts: number; last_error: string | null; last_error_detail: string | null; failed_at: Date; failed_key: string; created_at: Date }>(
    `SELECT d.id::text, d.notification_id, d.user_id, d.device_id, d.app_id, d.channel, d.provider, d.attempts, d.last_error, d.last_error_detail,
            d.updated_at AS failed_at, d.updated_at::text AS failed_key, d.created_at
       FROM deliveries d
      WHERE d.status = 'failed'
        AND ($1::text IS NULL OR d.app_id = $1) AND ($2::text IS NULL OR d.channel = $2) AND ($3::text IS NULL OR d.provider = $3)
        AND ($4::text IS NULL OR d.last_error ILIKE $4)
        AND ($5::timestamptz IS NULL OR (d.updated_at, d.id) < ($5::timestamptz, $6::bigint))
      ORDER BY d.updated_at DESC, d.id DESC
      LIMIT $7`,
    [f.appId ?? null, f.channel ?? null, f.provider ?? null, f.error ? likePattern(f.error, true) : null, after?.[0] ?? null, after?.[1] ?? null, f.limit + 1],
  );
  const page = rows.slice(0, f.limit);
  const last = page.at(-1);
  return {
    items: page.map((r) => ({
      id: r.id,
      notificationId: r.notification_id,
      userId: r.user_id,
      deviceId: r.device_id,
      appId: r.app_id,
      channel: r.channel,
      provider: r.provider,
      attempts: r.attempts,
      lastError: r.last_error,
      lastErrorDetail: r.last_error_detail,
      failedAt: r.failed_at.toISOString(),
      createdAt: r.created_at.toISOString(),
    })),
    ...(rows.length > f.limit && last ? { nextCursor: encodeCursor([last.failed_key, last.id]) } : {}),
  };
}

/**
 * Send the chosen dead letters again from the first attempt, with their events, in one
 * transaction. Only rows still failed are re-driven (a second click is a no-op), and none of a
 * cancelled notification. Returns the ids re-driven.
 */
export async function redriveDeadLetters(pool: Pool, ids: readonly string[]): Promise<string[]> {
  return withTransaction(pool, async (db) => {
    const { rows } = await db.query<{ id: string; notification_id: string; user_id: string | null }>(
      `UPDATE deliveries d
          SET status = 'pending', attempts = 0, due_at = now(), run_at = now(), last_error = NULL, last_error_detail = NULL, updated_at = now()
        WHERE d.id = ANY ($1::bigint[]) AND d.status = 'failed'
          AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.id = d.notification_id AND n.cancelled_at IS NOT NULL)
        RETURNING d.id::text, d.notification_id, d.user_id`,
      [ids],
    );
    if (rows.length === 0) return [];
    const perNotification = new Map<string, { userId: string | null; ids: string[] }>();
    for (const r of rows) {
      const key = `${r.notification_id}\u0000${r.user_id ?? ''}`;
      const entry = perNotification.get(key) ?? { userId: r.user_id, ids: [] };
      entry.ids.push(r.id);
      perNotification.set(key, entry);
    }
    await appendEvents(db, [...perNotification].map(([key, e]) => ({
      userId: e.userId,
      type: 'notification:retried',
      itemType: 'notification',
      itemId: key.split('\u0000')[0]!,
      data: { deliveries: e.ids.length, deliveryIds: e.ids },
    })));
    await notifyDeliveriesDue(db, new Date());
    return rows.map((r) => r.id);
  });
}
