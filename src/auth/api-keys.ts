import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/pool.ts';
import { uuidv7 } from '../db/ids.ts';

/**
 * API keys are random 32-byte secrets shown once; only their SHA-256 is stored. A fast hash is
 * the right tool here (unlike passwords, the keys have 256 bits of entropy to begin with).
 */
const KEY_PREFIX = 'hk_';

export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  readonly prefix: string;
  readonly createdAt: Date;
}

export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

export async function createApiKey(db: Queryable, name: string, key = generateKey()): Promise<{ key: string; record: ApiKeyRecord }> {
  const id = uuidv7();
  const prefix = key.slice(0, 10);
  const { rows } = await db.query<{ created_at: Date }>(
    `INSERT INTO api_keys (id, name, key_hash, prefix) VALUES ($1, $2, $3, $4) RETURNING created_at`,
    [id, name, hashKey(key), prefix],
  );
  return { key, record: { id, name, prefix, createdAt: rows[0]!.created_at } };
}

/** HERALD_API_KEY: make sure that key exists (idempotent across restarts and replicas). */
export async function ensureBootstrapKey(db: Queryable, key: string): Promise<void> {
  await db.query(
    `INSERT INTO api_keys (id, name, key_hash, prefix) VALUES ($1, 'HERALD_API_KEY', $2, $3)
     ON CONFLICT (key_hash) DO UPDATE SET revoked_at = NULL`,
    [uuidv7(), hashKey(key), key.slice(0, 10)],
  );
}

export async function listApiKeys(db: Queryable): Promise<ApiKeyRecord[]> {
  const { rows } = await db.query<{ id: string; name: string; prefix: string; created_at: Date }>(
    `SELECT id, name, prefix, created_at FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at`,
  );
  return rows.map((r) => ({ id: r.id, name: r.name, prefix: r.prefix, createdAt: r.created_at }));
}

export async function revokeApiKey(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, [id]);
  return (rowCount ?? 0) > 0;
}

/**
 * Verifies keys with a short positive cache so a busy API does not query per request; a revoked
 * key stops working within the cache lifetime.
 */
export class ApiKeyVerifier {
  readonly #db: Queryable;
  readonly #cache = new Map<string, { id: string; until: number }>();
  readonly #ttlMs: number;
  constructor(db: Queryable, ttlMs = 30_000) {
    this.#db = db;
    this.#ttlMs = ttlMs;
  }

  async verify(key: string): Promise<string | undefined> {
    const hash = hashKey(key);
    const cacheKey = hash.toString('base64');
    const hit = this.#cache.get(cacheKey);
    if (hit && hit.until > Date.now()) return hit.id;
    const { rows } = await this.#db.query<{ id: string; key_hash: Buffer }>(
      `SELECT id, key_hash FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
      [hash],
    );
    const row = rows[0];
    if (!row || !timingSafeEqual(row.key_hash, hash)) return undefined;
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(cacheKey, { id: row.id, until: Date.now() + this.#ttlMs });
    return row.id;
  }
}
