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

/**
 * What the audit trail lists: changes to keys, apps and their credentials, templates,
 * notification types, and user deletions (the same predicate as the partial index
 * events_admin of migration 0600, so the index serves it).
 */
const ADMIN_EVENTS = `(item_type IN ('key', 'app', 'template', 'notification-type') OR type IN ('user:deleted', 'user:erased'))`;

export interface AuditEvent extends StoredEvent {
  readonly actor: string | null;
}

export async function listAuditEvents(
  db: Queryable,
  filter: { after?: string | undefined; limit: number; actor?: string | undefined; itemType?: string | undefined },
): Promise<AuditEvent[]> {
  const { rows } = await db.query<{ id: string; type: string; item_type: string; item_id: string; data: unknown; created_at: Date; actor: string | null }>(
    `SELECT id::text AS id, type, item_type, item_id, data, created_at, actor FROM events
      WHERE ${ADMIN_EVENTS} AND id > $1::bigint AND ($3::text IS NULL OR actor = $3) AND ($4::text IS NULL OR item_type = $4)
      ORDER BY id LIMIT $2`,
    [filter.after ?? '0', filter.limit, filter.actor ?? null, filter.itemType ?? null],
  );
  return rows.map((r) => ({ id: r.id, type: r.type, itemType: r.item_type, itemId: r.item_id, data: r.data, createdAt: r.created_at, actor: r.actor }));
}
