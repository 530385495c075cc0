import type { Pool, Queryable } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { validation } from '../errors/index.ts';
import { appendEvents } from '../events/outbox.ts';
import { notifyDeliveriesDue } from '../db/wakeup.ts';
import { decodeCursor, encodeCursor, likePattern } from './cursor.ts';

/**
 * Dead letters: deliveries that failed for good (attempts exhausted, a permanent provider
 * verdict, an invalid device). Read newest first by keyset pages over the small partial index
 * `deliveries_dead_letters`, each page looking at SCAN rows at most (so with a filter a page may
 * hold fewer items than asked, and `nextCursor` goes on); re-driven as a selection.
 */
/** Failed rows one page looks at, at most: a rare filter gives short pages, each as cheap. */
export const SCAN = 2_000;

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
  /** The fallback step the delivery belonged to (0: the first, and the only one without steps). */
  readonly step: number;
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
  // The newest SCAN failed rows after the cursor, walked in index order; the filters apply to
  // them. A filter the planner cannot estimate would otherwise have it read every failed row
  // and sort them. The oldest row scanned (`tail`) is where the next page goes on when the
  // window held fewer matches than a page.
  const { rows } = await db.query<{ id: string; notification_id: string; user_id: string | null; device_id: string | null; app_id: string; channel: string; provider: string; step: number; attempts: number; last_error: string | null; last_error_detail: string | null; failed_at: Date; failed_key: string; created_at: Date; tail: boolean; scanned: number }>(
    `WITH s AS (
       SELECT d.id, d.notification_id, d.user_id, d.device_id, d.app_id, d.channel, d.provider, d.step, d.attempts, d.last_error, d.last_error_detail,
              d.updated_at, d.updated_at::text AS failed_key, d.created_at
         FROM deliveries d
        WHERE d.status = 'failed' AND ($5::timestamptz IS NULL OR (d.updated_at, d.id) < ($5::timestamptz, $6::bigint))
        ORDER BY d.updated_at DESC, d.id DESC
        LIMIT ${SCAN}),
     m AS (
       SELECT * FROM s
        WHERE ($1::text IS NULL OR s.app_id = $1) AND ($2::text IS NULL OR s.channel = $2) AND ($3::text IS NULL OR s.provider = $3)
          AND ($4::text IS NULL OR s.last_error ILIKE $4)
        ORDER BY s.updated_at DESC, s.id DESC
        LIMIT $7)
     SELECT x.id::text, x.notification_id, x.user_id, x.device_id, x.app_id, x.channel, x.provider, x.step, x.attempts, x.last_error, x.last_error_detail,
            x.updated_at AS failed_at, x.failed_key, x.created_at, x.tail, (SELECT count(*)::int FROM s) AS scanned
       FROM (SELECT m.*, false AS tail FROM m
             UNION ALL
             (SELECT s.*, true AS tail FROM s ORDER BY s.updated_at ASC, s.id ASC LIMIT 1)) x`,
    [f.appId ?? null, f.channel ?? null, f.provider ?? null, f.error ? likePattern(f.error, true) : null, after?.[0] ?? null, after?.[1] ?? null, f.limit + 1],
  );
  const matches = rows.filter((r) => !r.tail);
  const tail = rows.find((r) => r.tail);
  const page = matches.slice(0, f.limit);
  const last = matches.length > f.limit ? page.at(-1) : (rows[0]?.scanned ?? 0) >= SCAN ? tail : undefined;
  return {
    items: page.map((r) => ({
      id: r.id,
      notificationId: r.notification_id,
      userId: r.user_id,
      deviceId: r.device_id,
      appId: r.app_id,
      channel: r.channel,
      provider: r.provider,
      step: r.step,
      attempts: r.attempts,
      lastError: r.last_error,
      lastErrorDetail: r.last_error_detail,
      failedAt: r.failed_at.toISOString(),
      createdAt: r.created_at.toISOString(),
    })),
    ...(last ? { nextCursor: encodeCursor([last.failed_key, last.id]) } : {}),
  };
}

/**
 * Send the chosen dead letters again from the first attempt, with their events, in one
 * transaction. Only rows still failed are re-driven (a second click is a no-op), and none of a
 * cancelled notification. Returns the ids re-driven.
 */
export async function redriveDeadLetters(pool: Pool, ids: readonly string[], appIds?: readonly string[]): Promise<string[]> {
  return withTransaction(pool, async (db) => {
    // `appIds`: an app-limited key re-drives only what its dead-letter list shows (the delivery's app).
    const { rows } = await db.query<{ id: string; notification_id: string; user_id: string | null }>(
      `UPDATE deliveries d
          SET status = 'pending', attempts = 0, due_at = now(), run_at = now(), last_error = NULL, last_error_detail = NULL, updated_at = now()
        WHERE d.id = ANY ($1::bigint[]) AND d.status = 'failed' AND ($2::text[] IS NULL OR d.app_id = ANY ($2::text[]))
          AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.id = d.notification_id AND n.cancelled_at IS NOT NULL)
        RETURNING d.id::text, d.notification_id, d.user_id`,
      [ids, appIds ?? null],
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
