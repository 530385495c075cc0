import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { Listener } from '../db/listener.ts';
import { HeraldError } from '../errors/index.ts';
import { INBOX_CHANNEL } from '../dispatch/wakeup.ts';

export interface InboxItem {
  readonly id: string;
  readonly notificationId: string | null;
  readonly title: string | null;
  readonly body: string | null;
  readonly data: Record<string, unknown>;
  readonly url: string | null;
  readonly readAt: string | null;
  readonly createdAt: string;
}

interface Row {
  id: string;
  notification_id: string | null;
  title: string | null;
  body: string | null;
  data: Record<string, unknown>;
  url: string | null;
  read_at: Date | null;
  created_at: Date;
}

const toItem = (r: Row): InboxItem => ({
  id: r.id,
  notificationId: r.notification_id,
  title: r.title,
  body: r.body,
  data: r.data,
  url: r.url,
  readAt: r.read_at?.toISOString() ?? null,
  createdAt: r.created_at.toISOString(),
});

/**
 * The in-app inbox: items the inbox channel stored, read state, and live streams. Streams work
 * across processes: the worker that stores an item NOTIFYs `herald_inbox`, and every API process
 * LISTENs and forwards the item to the streams of that user it holds.
 */
export class InboxService {
  readonly #pool: Pool;
  readonly #listener: Listener;
  readonly #streams = new Map<string, Set<(item: InboxItem) => void>>();
  #listening: Promise<void> | undefined;

  constructor(pool: Pool, log: Logger) {
    this.#pool = pool;
    this.#listener = new Listener(pool, log.child({ component: 'inbox-stream' }));
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
      `UPDATE inbox_items SET read_at = COALESCE(read_at, now()) WHERE id = $1 AND user_id = $2 RETURNING *`,
      [id, userId],
    );
    if (!rows[0]) throw new HeraldError('NOT_FOUND', 'No such inbox item.');
    return toItem(rows[0]);
  }

  /** Mark every unread item of the user read; how many were unread. */
  async markAllRead(userId: string): Promise<{ marked: number }> {
    const { rowCount } = await this.#pool.query(`UPDATE inbox_items SET read_at = now() WHERE user_id = $1 AND read_at IS NULL`, [userId]);
    return { marked: rowCount ?? 0 };
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

  /** Call `onItem` for every new item of the user until the returned function is called. */
  async subscribe(userId: string, onItem: (item: InboxItem) => void): Promise<() => void> {
    this.#listening ??= this.#listener.listen(INBOX_CHANNEL, (payload) => void this.#forward(payload));
    await this.#listening;
    let set = this.#streams.get(userId);
    if (!set) this.#streams.set(userId, (set = new Set()));
    set.add(onItem);
    return () => {
      set.delete(onItem);
      if (set.size === 0) this.#streams.delete(userId);
    };
  }

  async #forward(payload: string): Promise<void> {
    let note: { userId?: string; id?: string };
    try {
      note = JSON.parse(payload) as { userId?: string; id?: string };
    } catch {
      return;
    }
    const subscribers = note.userId ? this.#streams.get(note.userId) : undefined;
    if (!subscribers || !note.id) return;
    const { rows } = await this.#pool.query<Row>(`SELECT * FROM inbox_items WHERE id = $1`, [note.id]).catch(() => ({ rows: [] as Row[] }));
    if (!rows[0]) return;
    const item = toItem(rows[0]);
    for (const s of subscribers) s(item);
  }

  async close(): Promise<void> {
    await this.#listener.close();
  }
}
