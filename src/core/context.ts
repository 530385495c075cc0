import type { Registry } from 'prom-client';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { Pool } from 'pg';
import type { Keyring } from './keyring.ts';

/**
 * What every role is handed by the composition root (src/runtime/index.ts): configuration,
 * logger, the database pool, the metrics registry and the key that seals app credentials.
 * Nothing in herald reaches for a global instead.
 */
export interface Context {
  readonly config: Config;
  readonly log: Logger;
  readonly pool: Pool;
  readonly metrics: Registry;
  /** Seals app credentials (HERALD_SECRET_KEY, or generated) and opens them (also with HERALD_SECRET_KEYS_PREVIOUS). */
  readonly keyring: Keyring;
  /** Absolute data directory (embedded default: generated keys live here). */
  readonly dataDir: string;
  /** Latest migration this build knows; /readyz compares the database to it. */
  readonly latestMigration: number;
}

/** A role is started with the context and stopped on shutdown (stop claiming, drain, close). */
export interface Role {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}
