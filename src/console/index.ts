import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { overview, type Overview } from './overview.ts';
import { searchDeadLetters, redriveDeadLetters, type DeadLetter, type DeadLetterFilter } from './dead-letters.ts';
import { searchUsers, type UserHit } from './user-search.ts';
import { foldOutcomes } from './stats.ts';
import { DeliveryRollup } from './rollup.ts';

export type { Overview, DeadLetter, DeadLetterFilter, UserHit };
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
  fold(): Promise<boolean> {
    return foldOutcomes(this.#pool);
  }

  deadLetters(filter: DeadLetterFilter): Promise<{ items: DeadLetter[]; nextCursor?: string }> {
    return searchDeadLetters(this.#pool, filter);
  }

  redrive(ids: readonly string[]): Promise<string[]> {
    return redriveDeadLetters(this.#pool, ids);
  }

  users(query: string | undefined, limit: number, cursor: string | undefined): Promise<{ items: UserHit[]; nextCursor?: string }> {
    return searchUsers(this.#pool, query, limit, cursor);
  }

  /** App ids, `default` (configured from the environment) first; at most `limit`. */
  async appIds(limit: number): Promise<string[]> {
    const { rows } = await this.#pool.query<{ id: string }>(`SELECT id FROM apps WHERE id <> 'default' ORDER BY id LIMIT $1`, [limit]);
    return ['default', ...rows.map((r) => r.id)];
  }
}
