import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { overview, type Overview } from './overview.ts';
import { searchDeadLetters, redriveDeadLetters, type DeadLetter, type DeadLetterFilter } from './dead-letters.ts';
import { searchUsers, type UserHit } from './user-search.ts';
import { foldOutcomes, type FoldResult } from './stats.ts';
import { DeliveryRollup } from './rollup.ts';

export type { Overview, DeadLetter, DeadLetterFilter, UserHit };

export interface NotificationEvent {
  readonly id: string;
  readonly userId: string | null;
  readonly type: string;
  readonly data: unknown;
  readonly createdAt: string;
}
export { LATENESS_BOUNDS_MS } from './stats.ts';

/**
 * What the operator console reads beyond the domain services: delivery statistics from the
 * per-minute rollup, dead-letter search and re-drive, user search, the list of apps. Every
 * query is a keyset page or an index range (docs/console.md § How it stays fast).
 */
export class ConsoleService {
  readonly #pool: Pool;
  readonly rollup: DeliveryRollup;

  constructor(pool: Pool, log: Logger) {
    this.#pool = pool;
    this.rollup = new DeliveryRollup(pool, log);
  }

  overview(minutes: number): Promise<Overview> {
    return overview(this.#pool, minutes);
  }

  /** Fold finished outcomes into the rollup now (the API role does this every few seconds). */
  fold(): Promise<FoldResult> {
    return foldOutcomes(this.#pool);
  }

  deadLetters(filter: DeadLetterFilter): Promise<{ items: DeadLetter[]; nextCursor?: string }> {
    return searchDeadLetters(this.#pool, filter);
  }

  /** `appIds`: only deliveries of these apps (an app-limited key); undefined: any. */
  redrive(ids: readonly string[], appIds?: readonly string[]): Promise<string[]> {
    return redriveDeadLetters(this.#pool, ids, appIds);
  }

  /** `appIds`: only users who belong to these apps (an app-limited key); undefined: every user. */
  users(query: string | undefined, limit: number, cursor: string | undefined, appIds?: readonly string[]): Promise<{ items: UserHit[]; nextCursor?: string }> {
    return searchUsers(this.#pool, query, limit, cursor, appIds);
  }

  /**
   * A notification's history: the events about it, oldest first. Read through each recipient's
   * events (the `events_user` index), so no index on the append-heavy events table is added for
   * it; at most the first 100 recipients of a broadcast. Undefined: no such notification.
   */
  async notificationEvents(id: string, limit: number): Promise<NotificationEvent[] | undefined> {
    const n = await this.#pool.query<{ user_ids: string[] }>(`SELECT user_ids FROM notifications WHERE id = $1`, [id]);
    if (n.rows.length === 0) return undefined;
    const { rows } = await this.#pool.query<{ id: string; user_id: string | null; type: string; data: unknown; created_at: Date }>(
      `SELECT id::text, user_id, type, data, created_at FROM events
        WHERE user_id = ANY ($1::text[]) AND item_type = 'notification' AND item_id = $2
        ORDER BY id LIMIT $3`,
      [n.rows[0]!.user_ids.slice(0, 100), id, limit],
    );
    return rows.map((r) => ({ id: r.id, userId: r.user_id, type: r.type, data: r.data, createdAt: r.created_at.toISOString() }));
  }

  /** App ids, `default` (configured from the environment) first; at most `limit`. */
  async appIds(limit: number): Promise<string[]> {
    const { rows } = await this.#pool.query<{ id: string }>(`SELECT id FROM apps WHERE id <> 'default' ORDER BY id LIMIT $1`, [limit]);
    return ['default', ...rows.map((r) => r.id)];
  }
}
