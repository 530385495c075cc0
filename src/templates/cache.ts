import { LRUCache } from 'lru-cache';
import type { Queryable } from '../db/pool.ts';
import { CompiledTemplate } from './render.ts';
import { findVersion } from './repository.ts';
import { builtInTemplate } from './builtin.ts';

/**
 * Compiled template versions for the delivery path, by app, key and version. A version never
 * changes once saved, so an entry never goes stale and every process may keep its own copy
 * without coordination; the LRU bound only limits memory. Concurrent first uses of a version
 * share one database read (lru-cache's fetch).
 */
export class TemplateCache {
  readonly #db: Queryable;
  readonly #cache: LRUCache<string, CompiledTemplate, { appId: string; key: string; version: number }>;

  constructor(db: Queryable, max = 1_000) {
    this.#db = db;
    this.#cache = new LRUCache({
      max,
      fetchMethod: async (_id, _stale, { context }) => {
        const row = await findVersion(this.#db, context.appId, context.key, context.version);
        return row ? new CompiledTemplate(context.key, row.version, row.definition) : undefined;
      },
    });
  }

  /** The version, or undefined when it does not exist. Rejects when the database cannot be read. */
  get(appId: string, key: string, version: number): Promise<CompiledTemplate | undefined> | CompiledTemplate | undefined {
    if (version === 0) return builtInTemplate(key);
    const id = `${appId}\u0000${key}\u0000${version}`;
    // The hot path (every delivery of a busy template) is a plain lookup; fetch() only on a miss.
    return this.#cache.get(id) ?? this.#cache.fetch(id, { context: { appId, key, version } });
  }
}
