import type { Pool } from '../db/pool.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import type { AppChannel, AppCredentialStore, AppCredentials } from './types.ts';
import type { Keyring } from '../core/keyring.ts';
import { findApp, setProblem } from './repository.ts';
import { defaultAppFromEnv } from './env-default.ts';

const CHANNELS = ['apns', 'fcm', 'webpush', 'email', 'webhook'] as const;
const ENV_REREAD_MS = 60_000;

/**
 * Decrypted app credentials for the channels, cached for a few seconds so a busy worker does not
 * decrypt per send, while a PUT /v1/apps is picked up by every process soon after (the API's own
 * process drops its cache at once). The `default` app is the environment's configuration with a
 * stored `default` row's channels laid over it.
 */
export class CredentialStore implements AppCredentialStore {
  readonly #pool: Pool;
  readonly #keyring: Keyring;
  readonly #config: Config;
  readonly #dataDir: string;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, { value: Promise<AppCredentials | undefined>; until: number }>();
  #envDefault: { value: Promise<AppCredentials>; until: number } | undefined;

  constructor(options: { pool: Pool; keyring: Keyring; config: Config; dataDir: string; log: Logger; ttlMs?: number }) {
    this.#pool = options.pool;
    this.#keyring = options.keyring;
    this.#config = options.config;
    this.#dataDir = options.dataDir;
    this.#log = options.log;
    this.#ttlMs = options.ttlMs ?? 5_000;
  }

  get(appId: string): Promise<AppCredentials | undefined> {
    const hit = this.#cache.get(appId);
    if (hit && hit.until > Date.now()) return hit.value;
    const value = this.load(appId);
    this.#cache.set(appId, { value, until: Date.now() + this.#ttlMs });
    // A failed load is not cached: the next call tries again.
    value.catch(() => this.#cache.delete(appId));
    return value;
  }

  /** Forget cached credentials (after PUT /v1/apps). */
  invalidate(appId?: string): void {
    if (appId === undefined) this.#cache.clear();
    else this.#cache.delete(appId);
  }

  /** Uncached read, as stored: what GET /v1/apps shows. */
  async load(appId: string): Promise<AppCredentials | undefined> {
    const row = await findApp(this.#pool, appId);
    let stored: AppCredentials | undefined;
    if (row) {
      stored = { id: row.id, name: row.name };
      if (row.secrets) {
        try {
          stored = { ...(JSON.parse(this.#keyring.open(row.secrets, row.id)) as AppCredentials), id: row.id, name: row.name };
        } catch (err) {
          // Sealed under another HERALD_SECRET_KEY: say so instead of sending with nothing.
          this.#log.error({ err: coerceError(err), appId }, 'cannot open stored app credentials: was HERALD_SECRET_KEY changed without keeping the old key in HERALD_SECRET_KEYS_PREVIOUS?');
        }
      }
    }
    if (appId !== 'default') return stored;
    // Files named by HERALD_*_FILE are re-read every minute: a mounted Kubernetes Secret (an APNs
    // certificate renewed, say) changes in place without a restart.
    if (!this.#envDefault || this.#envDefault.until < Date.now()) {
      this.#envDefault = { value: defaultAppFromEnv(this.#config, this.#dataDir, this.#log), until: Date.now() + ENV_REREAD_MS };
    }
    const env = await this.#envDefault.value;
    if (!stored) return env;
    const merged: { -readonly [K in keyof AppCredentials]: AppCredentials[K] } = { ...env, name: stored.name };
    for (const channel of CHANNELS) {
      const value = stored[channel];
      if (value !== undefined) Object.assign(merged, { [channel]: value });
    }
    return merged;
  }

  async reportProblem(appId: string, channel: AppChannel, problem: string | undefined): Promise<void> {
    await setProblem(this.#pool, appId, channel, problem);
  }
}
