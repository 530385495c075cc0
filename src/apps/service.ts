import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { notFound, validation } from '../errors/index.ts';
import { appendEvent } from '../events/outbox.ts';
import type { Keyring } from '../core/keyring.ts';
import { findApp, findDefaultLocale, findRetentionDays, findTiming, setDefaultLocale, setRetentionDays, setTiming, upsertApp } from './repository.ts';
import { checkZone } from '../db/time-zone.ts';
import { checkQuietHours, type QuietHours, type SendWindow } from '../core/quiet-hours.ts';
import { canonicalLocale } from '../core/locale.ts';
import { toCredentials, summarise, type AppInput } from './validate.ts';
import type { CredentialStore } from './credentials.ts';
import { OutboundPolicy, refuseUnlessAllowed } from '../outbound/index.ts';

/** What GET /v1/apps/{appId} shows: never a key, only which channels are configured and how. */
export interface AppView {
  readonly id: string;
  readonly name: string;
  readonly channels: Record<string, unknown>;
  readonly status: Record<string, { problem: string; at: string }>;
  /** Templates fall back to it (docs/templates.md); default `en`. */
  readonly defaultLocale: string;
  /** Days finished notifications, inbox items and events are kept; null: the operator's HERALD_RETENTION_DAYS. */
  readonly retentionDays: number | null;
  /** The zone of users who have none (docs/timing.md); null: UTC. */
  readonly defaultTimezone: string | null;
  /** Quiet hours of users who have none of their own; null: none. */
  readonly quietHours: QuietHours | null;
  /** The send window of users who have none of their own; null: none. */
  readonly sendWindow: SendWindow | null;
  readonly createdAt: Date | null;
  readonly updatedAt: Date | null;
}

export class AppService {
  readonly #pool: Pool;
  readonly #keyring: Keyring;
  readonly #credentials: CredentialStore;
  readonly #outbound: OutboundPolicy;

  /** `outbound`: where a webhook URL may point (default: no exceptions). */
  constructor(pool: Pool, keyring: Keyring, credentials: CredentialStore, outbound: OutboundPolicy = new OutboundPolicy()) {
    this.#pool = pool;
    this.#keyring = keyring;
    this.#credentials = credentials;
    this.#outbound = outbound;
  }

  /** Create or replace an app; its secrets are sealed with the current HERALD_SECRET_KEY, the app id bound in. */
  async put(appId: string, input: AppInput): Promise<{ app: AppView; created: boolean }> {
    const credentials = toCredentials(appId, input);
    // Any API-key holder for the app sets this URL and herald POSTs to it: not at its own network.
    if (credentials.webhook) refuseUnlessAllowed(this.#outbound, credentials.webhook.url, 'body.webhook.url');
    const { id: _id, name: _name, ...secret } = credentials;
    const settings = summarise(credentials);
    const defaultLocale = canonicalLocale(input.defaultLocale ?? 'en');
    if (!defaultLocale) throw validation('body.defaultLocale: must be a BCP 47 language tag such as "en" or "de-AT"', [{ field: 'body.defaultLocale', message: 'must be a BCP 47 language tag' }]);
    await checkZone(this.#pool, input.defaultTimezone, 'body.defaultTimezone');
    checkQuietHours(input.quietHours, 'body.quietHours');
    checkQuietHours(input.sendWindow, 'body.sendWindow');
    const result = await withTransaction(this.#pool, async (client) => {
      const r = await upsertApp(client, appId, input.name, settings, this.#keyring.seal(JSON.stringify(secret), appId));
      await setDefaultLocale(client, appId, defaultLocale);
      await setRetentionDays(client, appId, input.retentionDays ?? null);
      await setTiming(client, appId, { defaultTimezone: input.defaultTimezone ?? null, quietHours: input.quietHours ?? null, sendWindow: input.sendWindow ?? null });
      await appendEvent(client, { userId: null, type: 'app:updated', itemType: 'app', itemId: appId, data: { channels: Object.keys(settings), created: r.created } });
      return r;
    });
    this.#credentials.invalidate(appId);
    return { app: await this.get(appId), created: result.created };
  }

  async get(appId: string): Promise<AppView> {
    const [row, credentials, defaultLocale, retentionDays, timing] = await Promise.all([
      findApp(this.#pool, appId),
      this.#credentials.load(appId),
      findDefaultLocale(this.#pool, appId),
      findRetentionDays(this.#pool, appId),
      findTiming(this.#pool, appId),
    ]);
    if (!credentials) throw notFound('app', appId);
    return {
      id: appId,
      name: credentials.name,
      channels: summarise(credentials),
      status: row?.status ?? {},
      defaultLocale: defaultLocale ?? 'en',
      retentionDays,
      defaultTimezone: timing.defaultTimezone,
      quietHours: timing.quietHours,
      sendWindow: timing.sendWindow,
      createdAt: row?.createdAt ?? null,
      updatedAt: row?.updatedAt ?? null,
    };
  }
}
