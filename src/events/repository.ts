import type { Queryable } from '../db/pool.ts';

/** Reading the event store (writing is src/events/outbox.ts). */
export interface StoredEvent {
  readonly id: string;
  readonly type: string;
  readonly itemType: string;
  readonly itemId: string;
  readonly data: unknown;
  readonly createdAt: Date;
}

/** A user's events oldest first after the cursor (an event id; ids only grow). */
export async function listUserEvents(db: Queryable, userId: string, after: string | undefined, limit: number): Promise<StoredEvent[]> {
  const { rows } = await db.query<{ id: string; type: string; item_type: string; item_id: string; data: unknown; created_at: Date }>(
    `SELECT id::text AS id, type, item_type, item_id, data, created_at FROM events
      WHERE user_id = $1 AND events.id > $2::bigint ORDER BY events.id LIMIT $3`,
    [userId, after ?? '0', limit],
  );
  return rows.map((r) => ({ id: r.id, type: r.type, itemType: r.item_type, itemId: r.item_id, data: r.data, createdAt: r.created_at }));
}
