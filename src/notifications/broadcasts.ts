import type { Queryable } from '../db/pool.ts';
import { insertDeliveriesSql, pushDeliveriesSql, channelDeliveriesSql, type FanOutSource } from './fan-out.ts';
import type { DeliveryCounts } from './status.ts';

/**
 * Broadcast SQL (docs/audiences.md): a notification to a topic or to every user is stored with
 * a `broadcasts` row, and its deliveries are created in chunks by the scheduler's fan-out loop
 * (src/scheduler/fan-out.ts). Each chunk takes the next users after the cursor, in user id
 * order, inserts their deliveries and moves the cursor in one transaction: a crash rolls back
 * the chunk it was in, and the next run starts from the last committed cursor — nobody skipped,
 * nobody twice. The broadcast row is locked for the chunk (FOR UPDATE SKIP LOCKED), so any number
 * of processes may run the loop; each chunk of one broadcast is done by one of them.
 */
export type AudienceKind = 'topic' | 'all';

export interface BroadcastRow {
  notification_id: string;
  app_id: string;
  kind: AudienceKind;
  topic_key: string | null;
  status: 'waiting' | 'running' | 'complete' | 'cancelled';
  start_at: Date;
  audience_at: Date | null;
  recipients: number | null;
  cursor: string | null;
  fanned_out: number;
  deliveries: number;
  completed_at: Date | null;
}

const COLUMNS = `notification_id, app_id, kind, topic_key, status, start_at, audience_at, recipients::float8 AS recipients, cursor,
  fanned_out::float8 AS fanned_out, deliveries::float8 AS deliveries, completed_at`;

export async function insertBroadcast(db: Queryable, b: { notificationId: string; appId: string; kind: AudienceKind; topicKey: string | null; startAt: Date }): Promise<void> {
  await db.query(
    `INSERT INTO broadcasts (notification_id, app_id, kind, topic_key, start_at) VALUES ($1, $2, $3, $4, $5)`,
    [b.notificationId, b.appId, b.kind, b.topicKey, b.startAt],
  );
}

export async function getBroadcast(db: Queryable, notificationId: string, lock = false): Promise<BroadcastRow | undefined> {
  const { rows } = await db.query<BroadcastRow>(`SELECT ${COLUMNS} FROM broadcasts WHERE notification_id = $1${lock ? ' FOR UPDATE' : ''}`, [notificationId]);
  return rows[0];
}

/**
 * A broadcast with work to do, locked for this transaction. The least recently advanced first,
 * so broadcasts started together take turns chunk by chunk instead of queueing behind the largest.
 */
export async function claimBroadcast(db: Queryable): Promise<BroadcastRow | undefined> {
  const { rows } = await db.query<BroadcastRow>(
    `SELECT ${COLUMNS} FROM broadcasts WHERE status IN ('waiting', 'running') AND start_at <= now()
      ORDER BY updated_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
  );
  return rows[0];
}

/** Milliseconds until the next waiting broadcast starts (null: none). */
export async function msUntilNextBroadcast(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ ms: number | null }>(
    `SELECT (EXTRACT(EPOCH FROM min(start_at) - now()) * 1000)::float8 AS ms FROM broadcasts WHERE status IN ('waiting', 'running')`,
  );
  return rows[0]?.ms ?? null;
}

/** Fix the audience: who it counts is who had subscribed (or existed) now. */
export async function startBroadcast(db: Queryable, b: BroadcastRow): Promise<{ audienceAt: Date; recipients: number }> {
  const count = b.kind === 'topic'
    ? `SELECT COALESCE((SELECT subscribers FROM topics WHERE app_id = $2 AND key = $3), 0)`
    : `SELECT count(*) FROM users`;
  const { rows } = await db.query<{ audience_at: Date; recipients: number }>(
    `UPDATE broadcasts SET status = 'running', audience_at = now(), recipients = (${count}), updated_at = clock_timestamp()
      WHERE notification_id = $1 RETURNING audience_at, recipients::float8 AS recipients`,
    b.kind === 'topic' ? [b.notification_id, b.app_id, b.topic_key] : [b.notification_id],
  );
  return { audienceAt: rows[0]!.audience_at, recipients: rows[0]!.recipients };
}

// The next `$3` recipients after the cursor `$2`, in user id order, who were in the audience at
// `$4`, as users rows (the fan-out rule reads their preferences, zone and quiet hours): one walk
// of an index from the cursor, and for a topic a primary-key probe of users per recipient (the
// OFFSET 0 keeps the lookup a per-row probe; as a plain join the planner hashed or merged the
// whole users table for every chunk).
const CHUNK_OF: Record<AudienceKind, string> = {
  topic: `SELECT u.* FROM (SELECT s.user_id FROM topic_subscriptions s
                            WHERE s.app_id = $5 AND s.topic_key = $6 AND ($2::text IS NULL OR s.user_id > $2) AND s.created_at <= $4
                            ORDER BY s.user_id LIMIT $3) k
           CROSS JOIN LATERAL (SELECT * FROM users WHERE id = k.user_id OFFSET 0) u`,
  all: `SELECT u.* FROM users u WHERE ($2::text IS NULL OR u.id > $2) AND u.created_at <= $4 ORDER BY u.id LIMIT $3`,
};

/** The broadcast's notification (the CTE `n`) to the users of one chunk (the CTE `chunk`, as `u`). */
const CHUNK: FanOutSource = {
  from: 'n',
  users: 'chunk u',
  isRecipient: () => 'true',
};

/**
 * Fan one chunk out: a delivery per active device (push) and per other channel for each user of
 * the chunk whom their preferences let through (herald_wants: per-channel switches, per-type
 * choices, required types). Returns the users walked, the last one, and the deliveries made.
 */
export async function fanOutChunk(db: Queryable, b: BroadcastRow, audienceAt: Date, size: number): Promise<{ users: number; last: string | null; deliveries: number }> {
  const { rows } = await db.query<{ users: number; last: string | null; deliveries: number }>(
    `WITH chunk AS MATERIALIZED (${CHUNK_OF[b.kind]}),
     n AS (SELECT id, app_id, target_app, channels, type, type_rule, send_at, expires_at, priority, local_time FROM notifications WHERE id = $1),
     ins AS (
       ${insertDeliveriesSql(pushDeliveriesSql(CHUNK), channelDeliveriesSql(CHUNK))}
       RETURNING 1)
     SELECT (SELECT count(*) FROM chunk)::int AS users, (SELECT max(id) FROM chunk) AS last, (SELECT count(*) FROM ins)::int AS deliveries`,
    b.kind === 'topic' ? [b.notification_id, b.cursor, size, audienceAt, b.app_id, b.topic_key] : [b.notification_id, b.cursor, size, audienceAt],
  );
  return rows[0]!;
}

/** Move the cursor after a chunk; complete when the chunk came up short. */
export async function advance(db: Queryable, id: string, chunk: { users: number; last: string | null; deliveries: number }, complete: boolean): Promise<void> {
  await db.query(
    `UPDATE broadcasts SET cursor = COALESCE($2, cursor), fanned_out = fanned_out + $3, deliveries = deliveries + $4,
            status = CASE WHEN $5 THEN 'complete' ELSE status END, completed_at = CASE WHEN $5 THEN now() ELSE NULL END,
            updated_at = clock_timestamp()
      WHERE notification_id = $1`,
    [id, chunk.last, chunk.users, chunk.deliveries, complete],
  );
}

export async function setBroadcastStatus(db: Queryable, id: string, status: 'cancelled' | 'complete'): Promise<void> {
  await db.query(`UPDATE broadcasts SET status = $2, updated_at = clock_timestamp(), completed_at = COALESCE(completed_at, now()) WHERE notification_id = $1`, [id, status]);
}

/** A notification's deliveries counted by status (one pass over its index range). */
export async function deliveryCounts(db: Queryable, notificationId: string, userId?: string): Promise<DeliveryCounts> {
  const { rows } = await db.query<DeliveryCounts>(
    `SELECT count(*) FILTER (WHERE status = 'pending')::float8 AS pending, count(*) FILTER (WHERE status = 'sending')::float8 AS sending,
            count(*) FILTER (WHERE status = 'sent')::float8 AS sent, count(*) FILTER (WHERE status = 'failed')::float8 AS failed,
            count(*) FILTER (WHERE status = 'expired')::float8 AS expired, count(*) FILTER (WHERE status = 'cancelled')::float8 AS cancelled,
            count(*) FILTER (WHERE status = 'capped')::float8 AS capped, count(*) FILTER (WHERE status = 'digested')::float8 AS digested,
            COALESCE(bool_or(attempts > 0), false) AS attempted
       FROM deliveries WHERE notification_id = $1 AND ($2::text IS NULL OR user_id = $2)`,
    [notificationId, userId ?? null],
  );
  return rows[0]!;
}
