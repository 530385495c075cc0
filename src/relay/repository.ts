import type { PoolClient } from '../db/pool.ts';

/** The outbox queries of the relay: claim unpublished events, mark them published. */
export interface OutboxEvent {
  readonly id: string;
  readonly userId: string | null;
  readonly type: string;
  readonly itemType: string;
  readonly itemId: string;
  readonly data: unknown;
  readonly createdAt: Date;
}

interface Row {
  id: string;
  user_id: string | null;
  type: string;
  item_type: string;
  item_id: string;
  data: unknown;
  created_at: Date;
}

// Any constant works; it only has to be the same in every herald process.
const USER_LOCK_SPACE = 7_310_050;

/**
 * Claim up to `limit` unpublished events in id order, skipping rows another relay holds. To keep
 * each user's events in order across several relays, a user's events are kept only when this
 * transaction also wins the user's advisory lock and holds that user's oldest unpublished
 * event; the rest stay unpublished for the next round. Locks last until the transaction ends.
 */
export async function claimEvents(client: PoolClient, limit: number): Promise<OutboxEvent[]> {
  const { rows } = await client.query<Row>(
    `SELECT id::text AS id, user_id, type, item_type, item_id, data, created_at
       FROM events WHERE published_at IS NULL
      ORDER BY events.id -- the bigint, not the text alias
      LIMIT $1 FOR UPDATE SKIP LOCKED`,
    [limit],
  );
  if (rows.length === 0) return [];
  const users = [...new Set(rows.map((r) => r.user_id).filter((u): u is string => u !== null))];
  let allowed = new Set<string>();
  if (users.length > 0) {
    const { rows: owned } = await client.query<{ user_id: string }>(
      `WITH mine AS (
         SELECT u AS user_id, min(c.id) AS first_claimed
           FROM unnest($1::text[]) AS u
           JOIN unnest($2::text[], $3::bigint[]) AS c(user_id, id) ON c.user_id = u
          WHERE pg_try_advisory_xact_lock($4, hashtext(u))
          GROUP BY u)
       SELECT m.user_id FROM mine m
        WHERE NOT EXISTS (SELECT 1 FROM events e
                           WHERE e.user_id = m.user_id AND e.published_at IS NULL AND e.id < m.first_claimed)`,
      [users, rows.map((r) => r.user_id ?? ''), rows.map((r) => r.id), USER_LOCK_SPACE],
    );
    allowed = new Set(owned.map((r) => r.user_id));
  }
  return rows
    .filter((r) => r.user_id === null || allowed.has(r.user_id))
    .map((r) => ({
      id: r.id,
      userId: r.user_id,
      type: r.type,
      itemType: r.item_type,
      itemId: r.item_id,
      data: r.data,
      createdAt: r.created_at,
    }));
}

export async function markPublished(client: PoolClient, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await client.query(`UPDATE events SET published_at = now() WHERE id = ANY($1::bigint[])`, [ids]);
}

export async function unpublishedCount(client: Pick<PoolClient, 'query'>): Promise<number> {
  const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM events WHERE published_at IS NULL`);
  return rows[0]?.n ?? 0;
}
