import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { HeraldError, notFound } from '../errors/index.ts';
import { toItem, type InboxItem, type InboxRow as Row } from './items.ts';
import { LiveStreams, type LiveStream, type StreamStats } from './streams.ts';
import { CANCEL_READ_STEPS } from './read-steps.ts';

export type { InboxItem } from './items.ts';
export type { LiveStream, StreamStats } from './streams.ts';

/**
 * The in-app inbox: items the inbox channel stored, read state, and live streams (`streams.ts`:
 * they work across processes, and each is capped per user and cleaned up on every path).
 */
export class InboxService {
  readonly #pool: Pool;
  readonly #streams: LiveStreams;

  constructor(pool: Pool, log: Logger, options: { readonly maxStreamsPerUser: number }) {
    this.#pool = pool;
    this.#streams = new LiveStreams(pool, log, options.maxStreamsPerUser);
  }

  async list(userId: string, limit: number, offset: number, unreadOnly: boolean): Promise<{ items: InboxItem[]; total: number; unread: number; limit: number; offset: number }> {
    const filter = unreadOnly ? 'AND read_at IS NULL' : '';
    const [page, counts] = await Promise.all([
      this.#pool.query<Row>(
        `SELECT * FROM inbox_items WHERE user_id = $1 ${filter} ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`,
        [userId, limit, offset],
      ),
      this.#pool.query<{ total: number; unread: number }>(
        `SELECT count(*) FILTER (WHERE TRUE ${filter ? 'AND read_at IS NULL' : ''})::int AS total,
                count(*) FILTER (WHERE read_at IS NULL)::int AS unread
           FROM inbox_items WHERE user_id = $1`,
        [userId],
      ),
    ]);
    return { items: page.rows.map(toItem), total: counts.rows[0]?.total ?? 0, unread: counts.rows[0]?.unread ?? 0, limit, offset };
  }

  async markRead(userId: string, id: string): Promise<InboxItem> {
    const { rows } = await this.#pool.query<Row>(
      `WITH marked AS (
         UPDATE inbox_items SET read_at = COALESCE(read_at, now()) WHERE id = $1 AND user_id = $2 RETURNING *
       ), ${CANCEL_READ_STEPS}
       SELECT * FROM marked`,
      [id, userId],
    );
    if (!rows[0]) throw notFound('inbox item', id);
    return toItem(rows[0]);
  }

  /** Mark every unread item of the user read; how many were unread. */
  async markAllRead(userId: string): Promise<{ marked: number }> {
    const { rows } = await this.#pool.query<{ marked: number }>(
      `WITH marked AS (
         UPDATE inbox_items SET read_at = now() WHERE user_id = $1 AND read_at IS NULL RETURNING notification_id, user_id
       ), ${CANCEL_READ_STEPS}
       SELECT count(*)::int AS marked FROM marked`,
      [userId],
    );
    return { marked: rows[0]?.marked ?? 0 };
  }

  /** Items created after `afterId` (SSE Last-Event-ID resumption), oldest first. */
  async since(userId: string, afterId: string): Promise<InboxItem[]> {
    const { rows } = await this.#pool.query<Row>(
      `SELECT i.* FROM inbox_items i
        WHERE i.user_id = $1 AND i.created_at > (SELECT created_at FROM inbox_items WHERE id = $2 AND user_id = $1)
        ORDER BY i.created_at, i.id LIMIT 500`,
      [userId, afterId],
    );
    return rows.map(toItem);
  }

  /** Open a live stream for the user; undefined when they hold as many as allowed on this process. */
  openStream(userId: string): LiveStream | undefined {
    return this.#streams.open(userId);
  }

  get maxStreamsPerUser(): number {
    return this.#streams.maxPerUser;
  }

  /** What this process's open streams hold (for leak checks and tests). */
  streamStats(): StreamStats {
    return this.#streams.stats();
  }

  async close(): Promise<void> {
    await this.#streams.close();
  }
}
