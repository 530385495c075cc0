import type { Queryable } from '../db/pool.ts';
import type { Listener } from '../db/listener.ts';
import { hashKey, lookupKey, type VerifiedKey } from './api-keys.ts';

/** The channel the api_keys trigger notifies with a key's id whenever a key is added or changed. */
export const API_KEYS_CHANNEL = 'herald_api_keys';

export interface KeyVerifierOptions {
  /** How long a valid key is trusted without asking the database (a change is told at once through the listener). */
  readonly ttlMs?: number;
  /** How long an unknown key is answered "no" without asking the database again. */
  readonly negativeTtlMs?: number;
  /** Most entries of each cache (the oldest go first). */
  readonly maxEntries?: number;
}

/**
 * Verifies API keys with two caches, so a busy API does not query per request and a flood of
 * wrong keys does not reach the database: valid keys for `ttlMs`, unknown ones for
 * `negativeTtlMs`. Concurrent look-ups of one key share one query.
 *
 * Every change to a key (revoked, re-scoped, added) NOTIFYs its id; each process drops that key
 * and forgets every "unknown", so a revocation takes effect at once everywhere. A look-up that
 * was in flight when a change arrived is not cached (its answer may predate the change), and
 * when the listening connection drops the caches are emptied (a notification may have been
 * missed).
 */
export class ApiKeyVerifier {
  readonly #db: Queryable;
  readonly #valid = new Map<string, { key: VerifiedKey; until: number }>();
  readonly #unknown = new Map<string, number>();
  readonly #inFlight = new Map<string, Promise<VerifiedKey | undefined>>();
  readonly #ttlMs: number;
  readonly #negativeTtlMs: number;
  readonly #max: number;
  #generation = 0;

  constructor(db: Queryable, options: KeyVerifierOptions = {}) {
    this.#db = db;
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#negativeTtlMs = options.negativeTtlMs ?? 60_000;
    this.#max = options.maxEntries ?? 10_000;
  }

  /** Follow key changes; without a listener the caches only expire. */
  async follow(listener: Listener): Promise<void> {
    listener.onReconnect(() => this.forgetAll());
    await listener.listen(API_KEYS_CHANNEL, (id) => this.forget(id));
  }

  /** A key changed: drop it, and every negative answer (the change may have been its creation). */
  forget(id: string): void {
    this.#generation++;
    this.#unknown.clear();
    for (const [hash, entry] of this.#valid) if (entry.key.id === id) this.#valid.delete(hash);
  }

  forgetAll(): void {
    this.#generation++;
    this.#unknown.clear();
    this.#valid.clear();
  }

  async verify(secret: string): Promise<VerifiedKey | undefined> {
    const hash = hashKey(secret);
    const cacheKey = hash.toString('base64');
    const now = Date.now();
    const hit = this.#valid.get(cacheKey);
    if (hit && hit.until > now) {
      if (hit.key.expiresAt && hit.key.expiresAt.getTime() <= now) return undefined;
      return hit.key;
    }
    const miss = this.#unknown.get(cacheKey);
    if (miss !== undefined && miss > now) return undefined;
    let pending = this.#inFlight.get(cacheKey);
    if (!pending) {
      pending = this.#lookup(hash, cacheKey).finally(() => this.#inFlight.delete(cacheKey));
      this.#inFlight.set(cacheKey, pending);
    }
    return pending;
  }

  async #lookup(hash: Buffer, cacheKey: string): Promise<VerifiedKey | undefined> {
    const generation = this.#generation;
    const key = await lookupKey(this.#db, hash);
    if (generation !== this.#generation) return key;
    if (key) remember(this.#valid, cacheKey, { key, until: Date.now() + this.#ttlMs }, this.#max);
    else remember(this.#unknown, cacheKey, Date.now() + this.#negativeTtlMs, this.#max);
    return key;
  }
}

/** Set an entry, dropping the oldest when full (a Map iterates in insertion order). */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  if (map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}
