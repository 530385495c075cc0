import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { notFound, validation } from '../errors/index.ts';
import { appendEvent } from '../events/outbox.ts';
import { seal } from './crypto.ts';
import { findApp, findDefaultLocale, setDefaultLocale, upsertApp } from './repository.ts';
import { canonicalLocale } from '../templates/locale.ts';
import { toCredentials, summarise, type AppInput } from './validate.ts';
import type { CredentialStore } from './credentials.ts';

/** What GET /v1/apps/{appId} shows: never a key, only which channels are configured and how. */
export interface AppView {
  readonly id: string;
  readonly name: string;
  readonly channels: Record<string, unknown>;
  readonly status: Record<string, { problem: string; at: string }>;
  /** Templates fall back to it (docs/templates.md); default `en`. */
  readonly defaultLocale: string;
  readonly createdAt: Date | null;
  readonly updatedAt: Date | null;
}

export class AppService {
  readonly #pool: Pool;
  readonly #key: Buffer;
  readonly #credentials: CredentialStore;

  constructor(pool: Pool, secretKey: Buffer, credentials: CredentialStore) {
    this.#pool = pool;
    this.#key = secretKey;
    this.#credentials = credentials;
  }

  /** Create or replace an app; its secrets are sealed under HERALD_SECRET_KEY with the app id bound in. */
  async put(appId: string, input: AppInput): Promise<{ app: AppView; created: boolean }> {
    const credentials = toCredentials(appId, input);
    const { id: _id, name: _name, ...secret } = credentials;
    const settings = summarise(credentials);
    const defaultLocale = canonicalLocale(input.defaultLocale ?? 'en');
    if (!defaultLocale) throw validation('body.defaultLocale: must be a BCP 47 language tag such as "en" or "de-AT"', [{ field: 'body.defaultLocale', message: 'must be a BCP 47 language tag' }]);
    const result = await withTransaction(this.#pool, async (client) => {
      const r = await upsertApp(client, appId, input.name, settings, seal(this.#key, JSON.stringify(secret), appId));
      await setDefaultLocale(client, appId, defaultLocale);
      await appendEvent(client, { userId: null, type: 'app:updated', itemType: 'app', itemId: appId, data: { channels: Object.keys(settings), created: r.created } });
      return r;
    });
    this.#credentials.invalidate(appId);
    return { app: await this.get(appId), created: result.created };
  }

  async get(appId: string): Promise<AppView> {
    const [row, credentials, defaultLocale] = await Promise.all([findApp(this.#pool, appId), this.#credentials.load(appId), findDefaultLocale(this.#pool, appId)]);
    if (!credentials) throw notFound('app');
    return {
      id: appId,
      name: credentials.name,
      channels: summarise(credentials),
      status: row?.status ?? {},
      defaultLocale: defaultLocale ?? 'en',
      createdAt: row?.createdAt ?? null,
      updatedAt: row?.updatedAt ?? null,
    };
  }
}
