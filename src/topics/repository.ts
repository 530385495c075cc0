import type { Queryable } from '../db/pool.ts';

/**
 * Topic SQL: topics per app and their subscriptions. A subscription is one row per
 * (app, topic, user); its primary key is also the order a broadcast walks its audience in.
 */
export interface TopicRow {
  app_id: string;
  key: string;
  name: string | null;
  description: string | null;
  self_subscribe: boolean;
  subscribers: number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `app_id, key, name, description, self_subscribe, subscribers::float8 AS subscribers, created_at, updated_at`;

export interface TopicFields {
  readonly name: string | null;
  readonly description: string | null;
  readonly selfSubscribe: boolean;
}

/** Create or replace; `created` tells which. */
export async function upsertTopic(db: Queryable, appId: string, key: string, f: TopicFields): Promise<{ row: TopicRow; created: boolean }> {
  const { rows } = await db.query<TopicRow & { created: boolean }>(
    `INSERT INTO topics (app_id, key, name, description, self_subscribe) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (app_id, key) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
            self_subscribe = EXCLUDED.self_subscribe, updated_at = now()
     RETURNING ${COLUMNS}, (xmax = 0) AS created`,
    [appId, key, f.name, f.description, f.selfSubscribe],
  );
  const { created, ...row } = rows[0]!;
  return { row, created };
}

export async function getTopic(db: Queryable, appId: string, key: string, lock?: 'share'): Promise<TopicRow | undefined> {
  const { rows } = await db.query<TopicRow>(`SELECT ${COLUMNS} FROM topics WHERE app_id = $1 AND key = $2${lock ? ' FOR KEY SHARE' : ''}`, [appId, key]);
  return rows[0];
}

export async function deleteTopic(db: Queryable, appId: string, key: string): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM topics WHERE app_id = $1 AND key = $2`, [appId, key]);
  return rowCount === 1;
}

/** `limit + 1` topics after the cursor, by (app, key); `appId` narrows to one app. */
export async function listTopics(db: Queryable, appId: string | undefined, after: readonly string[] | undefined, limit: number): Promise<TopicRow[]> {
  const { rows } = await db.query<TopicRow>(
    `SELECT ${COLUMNS} FROM topics
      WHERE ($1::text IS NULL OR app_id = $1) AND ($2::text IS NULL OR (app_id, key) > ($2, $3))
      ORDER BY app_id, key LIMIT $4`,
    [appId ?? null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
  );
  return rows;
}

/** Of these ids, those that are not users. */
export async function missingUsers(db: Queryable, userIds: readonly string[]): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT x.id FROM unnest($1::text[]) AS x(id) WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x.id) ORDER BY x.id`,
    [userIds],
  );
  return rows.map((r) => r.id);
}

/**
 * Subscribe; returns the users newly subscribed. The ids go in sorted, so two calls with
 * overlapping users take their row locks in the same order and never deadlock; ON CONFLICT makes
 * a repeat (or a concurrent twin) a no-op.
 */
export async function addSubscriptions(db: Queryable, appId: string, key: string, userIds: readonly string[]): Promise<string[]> {
  const sorted = [...userIds].sort();
  const { rows } = await db.query<{ user_id: string }>(
    `INSERT INTO topic_subscriptions (app_id, topic_key, user_id)
     SELECT $1, $2, u FROM unnest($3::text[]) WITH ORDINALITY AS x(u, i) ORDER BY i
     ON CONFLICT DO NOTHING RETURNING user_id`,
    [appId, key, sorted],
  );
  return rows.map((r) => r.user_id);
}

export async function removeSubscriptions(db: Queryable, appId: string, key: string, userIds: readonly string[]): Promise<string[]> {
  const { rows } = await db.query<{ user_id: string }>(
    `DELETE FROM topic_subscriptions WHERE app_id = $1 AND topic_key = $2 AND user_id = ANY ($3::text[]) RETURNING user_id`,
    [appId, key, userIds],
  );
  return rows.map((r) => r.user_id);
}

export interface SubscriberRow {
  user_id: string;
  created_at: Date;
}

export async function listSubscribers(db: Queryable, appId: string, key: string, after: string | undefined, limit: number): Promise<SubscriberRow[]> {
  const { rows } = await db.query<SubscriberRow>(
    `SELECT user_id, created_at FROM topic_subscriptions
      WHERE app_id = $1 AND topic_key = $2 AND ($3::text IS NULL OR user_id > $3)
      ORDER BY user_id LIMIT $4`,
    [appId, key, after ?? null, limit + 1],
  );
  return rows;
}

export interface UserTopicRow extends TopicRow {
  subscribed_at: Date;
}

/** A user's topics (in one app, or every app), by (app, key) after the cursor. */
export async function listUserTopics(db: Queryable, userId: string, appId: string | undefined, after: readonly string[] | undefined, limit: number): Promise<UserTopicRow[]> {
  const { rows } = await db.query<UserTopicRow>(
    `SELECT t.app_id, t.key, t.name, t.description, t.self_subscribe, t.subscribers::float8 AS subscribers, t.created_at, t.updated_at, s.created_at AS subscribed_at
       FROM topic_subscriptions s JOIN topics t ON t.app_id = s.app_id AND t.key = s.topic_key
      WHERE s.user_id = $1 AND ($2::text IS NULL OR s.app_id = $2) AND ($3::text IS NULL OR (s.app_id, s.topic_key) > ($3, $4))
      ORDER BY s.app_id, s.topic_key LIMIT $5`,
    [userId, appId ?? null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
  );
  return rows;
}
