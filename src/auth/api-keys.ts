import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../db/pool.ts';
import { uuidv7 } from '../db/ids.ts';
import type { KeyScope } from './scopes.ts';

/**
 * API keys are random 32-byte secrets shown once; only their SHA-256 is stored. A fast hash is
 * the right tool here (unlike passwords, the keys have 256 bits of entropy to begin with).
 */
const KEY_PREFIX = 'hk_';

export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  readonly prefix: string;
  readonly scopes: readonly KeyScope[];
  /** null: every app. */
  readonly appIds: readonly string[] | null;
  readonly expiresAt: Date | null;
  readonly createdBy: string | null;
  readonly createdAt: Date;
}

export interface NewKey {
  readonly name: string;
  readonly scopes?: readonly KeyScope[];
  readonly appIds?: readonly string[] | null;
  readonly expiresAt?: Date | null;
  readonly createdBy?: string | null;
}

export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  scopes: KeyScope[];
  app_ids: string[] | null;
  expires_at: Date | null;
  created_by: string | null;
  created_at: Date;
}
const COLUMNS = 'id, name, prefix, scopes, app_ids, expires_at, created_by, created_at';

function record(r: KeyRow): ApiKeyRecord {
  return { id: r.id, name: r.name, prefix: r.prefix, scopes: r.scopes, appIds: r.app_ids, expiresAt: r.expires_at, createdBy: r.created_by, createdAt: r.created_at };
}

/** A new key; `name` alone (the old signature) makes an admin key for every app. */
export async function createApiKey(db: Queryable, spec: NewKey | string, key = generateKey()): Promise<{ key: string; record: ApiKeyRecord }> {
  const s: NewKey = typeof spec === 'string' ? { name: spec } : spec;
  const { rows } = await db.query<KeyRow>(
    `INSERT INTO api_keys (id, name, key_hash, prefix, scopes, app_ids, expires_at, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
    [uuidv7(), s.name, hashKey(key), key.slice(0, 10), s.scopes ?? ['admin'], s.appIds ?? null, s.expiresAt ?? null, s.createdBy ?? null],
  );
  return { key, record: record(rows[0]!) };
}

/** HERALD_API_KEY: make sure that key exists as an admin key (idempotent across restarts and replicas). */
export async function ensureBootstrapKey(db: Queryable, key: string): Promise<void> {
  await db.query(
    `INSERT INTO api_keys (id, name, key_hash, prefix) VALUES ($1, 'HERALD_API_KEY', $2, $3)
     ON CONFLICT (key_hash) DO UPDATE SET revoked_at = NULL, scopes = '{admin}', app_ids = NULL, expires_at = NULL
     WHERE api_keys.revoked_at IS NOT NULL OR api_keys.scopes <> '{admin}' OR api_keys.app_ids IS NOT NULL OR api_keys.expires_at IS NOT NULL`,
    [uuidv7(), hashKey(key), key.slice(0, 10)],
  );
}

/** Keys in use (neither revoked nor expired), oldest first. */
export async function listApiKeys(db: Queryable): Promise<ApiKeyRecord[]> {
  const { rows } = await db.query<KeyRow>(
    `SELECT ${COLUMNS} FROM api_keys WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at, id`,
  );
  return rows.map(record);
}

export async function findApiKey(db: Queryable, id: string): Promise<ApiKeyRecord | undefined> {
  const { rows } = await db.query<KeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1 AND revoked_at IS NULL`, [id]);
  return rows[0] && record(rows[0]);
}

/** Revoking tells every process at once (the table's trigger NOTIFYs herald_api_keys). */
export async function revokeApiKey(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, [id]);
  return (rowCount ?? 0) > 0;
}

/** What a valid key may do; `verify` returns it. */
export interface VerifiedKey {
  readonly id: string;
  readonly scopes: readonly KeyScope[];
  readonly appIds: readonly string[] | null;
  readonly expiresAt: Date | null;
}

/** A key row as the verifier reads it (the secret's hash matched in SQL). */
export async function lookupKey(db: Queryable, hash: Buffer): Promise<VerifiedKey | undefined> {
  const { rows } = await db.query<{ id: string; scopes: KeyScope[]; app_ids: string[] | null; expires_at: Date | null }>(
    `SELECT id, scopes, app_ids, expires_at FROM api_keys
      WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
    [hash],
  );
  const r = rows[0];
  return r && { id: r.id, scopes: r.scopes, appIds: r.app_ids, expiresAt: r.expires_at };
}
