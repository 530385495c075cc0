import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { HeraldError, notFound } from '../errors/index.ts';
import { appendEvent } from '../events/outbox.ts';
import { createApiKey, findApiKey, listApiKeys, revokeApiKey, type ApiKeyRecord } from './api-keys.ts';
import { exceededGrants, type KeyScope } from './scopes.ts';

/** The key making the request: what it may hand on. */
export interface Grantor {
  readonly keyId: string;
  readonly scopes: readonly KeyScope[];
  readonly appIds: readonly string[] | null;
  readonly expiresAt: Date | null;
}

export interface KeyInput {
  readonly name: string;
  readonly scopes: readonly KeyScope[];
  readonly appIds?: readonly string[] | undefined;
  readonly expiresAt?: string | undefined;
}

/**
 * Keys made through the API (`/v1/keys`): a key creates keys with at most what it has (no scope,
 * app or lifetime beyond its own) and revokes only keys it could have created. Each change is an
 * event (`key:created`, `key:revoked`) for the audit trail; secrets never are.
 */
export class KeyService {
  readonly #pool: Pool;
  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async create(grantor: Grantor, input: KeyInput, now = new Date()): Promise<{ key: string; record: ApiKeyRecord }> {
    const expiresAt = input.expiresAt === undefined ? null : new Date(input.expiresAt);
    if (expiresAt !== null && expiresAt.getTime() <= now.getTime()) {
      throw new HeraldError('UNPROCESSABLE', 'expiresAt is in the past.', [{ field: 'body.expiresAt', message: 'must be in the future' }]);
    }
    const child = { scopes: [...new Set(input.scopes)], appIds: input.appIds ? [...new Set(input.appIds)] : null, expiresAt };
    const exceeded = exceededGrants(grantor, child);
    if (exceeded.length) throw new HeraldError('FORBIDDEN', 'A key cannot grant more than it has.', exceeded);
    return withTransaction(this.#pool, async (client) => {
      const created = await createApiKey(client, { name: input.name, ...child, createdBy: grantor.keyId });
      await appendEvent(client, { userId: null, type: 'key:created', itemType: 'key', itemId: created.record.id, data: { name: input.name, scopes: child.scopes, appIds: child.appIds, expiresAt } });
      return created;
    });
  }

  /** Keys in use that this key could have created (all of them for an admin key). */
  async list(grantor: Grantor): Promise<ApiKeyRecord[]> {
    const all = await listApiKeys(this.#pool);
    return all.filter((k) => exceededGrants(grantor, k).length === 0);
  }

  async revoke(grantor: Grantor, id: string): Promise<void> {
    await withTransaction(this.#pool, async (client) => {
      const key = await findApiKey(client, id);
      // A key the grantor could not have created is not its to see.
      if (!key || (key.id !== grantor.keyId && exceededGrants(grantor, key).length > 0)) throw notFound('key', id);
      await revokeApiKey(client, id);
      await appendEvent(client, { userId: null, type: 'key:revoked', itemType: 'key', itemId: id, data: { name: key.name } });
    });
  }
}
