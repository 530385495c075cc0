import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { ensureRoomFor } from '../users/caps.ts';
import { decodeCursor, page } from '../db/cursor.ts';
import { HeraldError, notFound } from '../errors/index.ts';
import { appendEvent, appendEvents } from '../events/outbox.ts';
import * as repo from './repository.ts';
import { appExists } from '../apps/repository.ts';

export interface Topic {
  readonly key: string;
  readonly appId: string;
  readonly name: string | null;
  readonly description: string | null;
  readonly selfSubscribe: boolean;
  readonly subscribers: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface TopicInput {
  readonly name?: string | null | undefined;
  readonly description?: string | null | undefined;
  readonly selfSubscribe?: boolean | undefined;
}

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

export const topicView = (r: repo.TopicRow): Topic => ({
  key: r.key,
  appId: r.app_id,
  name: r.name,
  description: r.description,
  selfSubscribe: r.self_subscribe,
  subscribers: Number(r.subscribers),
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

const itemId = (appId: string, key: string) => `${appId}/${key}`;

/**
 * Topics (docs/audiences.md): per-app lists of users that a broadcast addresses at once. Every
 * change records its event in the same transaction: `topic:created|updated|deleted` (no user)
 * and `subscription:created|deleted` for each user whose subscription changed.
 */
export class TopicService {
  readonly #pool: Pool;
  readonly #maxPerUser: number;

  /** maxPerUser: topics one user may join through /v1/me (HERALD_USER_MAX_TOPICS; 0: no limit). */
  constructor(pool: Pool, maxPerUser = 0) {
    this.#pool = pool;
    this.#maxPerUser = maxPerUser;
  }

  async put(appId: string, key: string, input: TopicInput): Promise<{ topic: Topic; created: boolean }> {
    return withTransaction(this.#pool, async (client) => {
      // As for devices and reminders: a topic of an app that does not exist could never be sent to.
      if (appId !== 'default' && !(await appExists(client, appId))) {
        throw new HeraldError('UNKNOWN_APP', `no app "${appId}"`, [{ field: 'appId', message: 'no such app' }]);
      }
      const { row, created } = await repo.upsertTopic(client, appId, key, {
        name: input.name ?? null,
        description: input.description ?? null,
        selfSubscribe: input.selfSubscribe ?? false,
      });
      await appendEvent(client, { userId: null, type: created ? 'topic:created' : 'topic:updated', itemType: 'topic', itemId: itemId(appId, key), data: { appId, key, name: row.name, selfSubscribe: row.self_subscribe } });
      return { topic: topicView(row), created };
    });
  }

  async get(appId: string, key: string): Promise<Topic> {
    const row = await repo.getTopic(this.#pool, appId, key);
    if (!row) throw notFound('topic', key);
    return topicView(row);
  }

  /** Delete the topic and its subscriptions (one `subscription:deleted` per user is not recorded: the `topic:deleted` event says it). */
  async delete(appId: string, key: string): Promise<void> {
    await withTransaction(this.#pool, async (client) => {
      const row = await repo.getTopic(client, appId, key);
      if (!row || !(await repo.deleteTopic(client, appId, key))) throw notFound('topic', key);
      await appendEvent(client, { userId: null, type: 'topic:deleted', itemType: 'topic', itemId: itemId(appId, key), data: { appId, key, subscribers: Number(row.subscribers) } });
    });
  }

  async list(appId: string | undefined, limit: number, cursor: string | undefined): Promise<Page<Topic>> {
    const rows = await repo.listTopics(this.#pool, appId, decodeCursor(cursor, 2), limit);
    const p = page(rows, limit, (r) => [r.app_id, r.key]);
    return { items: p.items.map(topicView), nextCursor: p.nextCursor };
  }

  /**
   * Subscribe users (idempotent: a repeat adds nobody). Unknown users are refused as a whole,
   * listed in `details.userIds`, and nobody is subscribed. `requireSelfSubscribe`: an end user
   * acting through /v1/me may only join topics that allow it (404 otherwise, as for a missing one).
   */
  async subscribe(appId: string, key: string, userIds: readonly string[], options: { requireSelfSubscribe?: boolean; createUsers?: boolean } = {}): Promise<{ added: number; already: number }> {
    const ids = [...new Set(userIds)];
    return withTransaction(this.#pool, async (client) => {
      // KEY SHARE: a concurrent DELETE of the topic waits for us (and vice versa), while other
      // subscribe calls and the subscriber-count trigger's UPDATE go ahead.
      const topic = await repo.getTopic(client, appId, key, 'share');
      if (!topic || (options.requireSelfSubscribe && !topic.self_subscribe)) throw notFound('topic', key);
      // An end user subscribing themselves may not have a profile yet (as with their devices).
      if (options.createUsers) await client.query(`INSERT INTO users (id) SELECT unnest($1::text[]) ON CONFLICT (id) DO NOTHING`, [ids]);
      // An end user joining topics themselves is capped; the application's own bulk calls are not.
      if (options.requireSelfSubscribe) for (const u of ids) await ensureRoomFor(client, u, 'topics', this.#maxPerUser);
      const missing = await repo.missingUsers(client, ids);
      if (missing.length > 0) {
        throw new HeraldError('UNKNOWN_USERS', `${missing.length} of these users do not exist.`, { userIds: missing.slice(0, 1000), count: missing.length });
      }
      let added: string[];
      try {
        added = await repo.addSubscriptions(client, appId, key, ids);
      } catch (err) {
        // A user deleted between the check and the insert.
        if ((err as { code?: string }).code === '23503') throw new HeraldError('UNKNOWN_USERS', 'A user was deleted while subscribing; nobody was subscribed.');
        throw err;
      }
      await appendEvents(client, added.map((u) => ({ userId: u, type: 'subscription:created', itemType: 'topic', itemId: itemId(appId, key), data: { appId, topic: key } })));
      return { added: added.length, already: ids.length - added.length };
    });
  }

  async unsubscribe(appId: string, key: string, userIds: readonly string[], options: { requireSelfSubscribe?: boolean } = {}): Promise<{ removed: number }> {
    const ids = [...new Set(userIds)];
    return withTransaction(this.#pool, async (client) => {
      const topic = await repo.getTopic(client, appId, key, 'share');
      if (!topic || (options.requireSelfSubscribe && !topic.self_subscribe)) throw notFound('topic', key);
      const removed = await repo.removeSubscriptions(client, appId, key, ids);
      await appendEvents(client, removed.map((u) => ({ userId: u, type: 'subscription:deleted', itemType: 'topic', itemId: itemId(appId, key), data: { appId, topic: key } })));
      return { removed: removed.length };
    });
  }

  async subscribers(appId: string, key: string, limit: number, cursor: string | undefined): Promise<Page<{ userId: string; subscribedAt: string }>> {
    const after = decodeCursor(cursor, 1)?.[0];
    const [topic, rows] = await Promise.all([repo.getTopic(this.#pool, appId, key), repo.listSubscribers(this.#pool, appId, key, after, limit)]);
    if (!topic) throw notFound('topic', key);
    const p = page(rows, limit, (r) => [r.user_id]);
    return { items: p.items.map((r) => ({ userId: r.user_id, subscribedAt: r.created_at.toISOString() })), nextCursor: p.nextCursor };
  }

  async userTopics(userId: string, appId: string | undefined, limit: number, cursor: string | undefined): Promise<Page<Topic & { subscribedAt: string }>> {
    const rows = await repo.listUserTopics(this.#pool, userId, appId, decodeCursor(cursor, 2), limit);
    const p = page(rows, limit, (r) => [r.app_id, r.key]);
    return { items: p.items.map((r) => ({ ...topicView(r), subscribedAt: r.subscribed_at.toISOString() })), nextCursor: p.nextCursor };
  }
}
