import { Registry } from 'prom-client';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { loadMigrations } from '../../src/db/migrate.ts';
import { createApiKey } from '../../src/auth/api-keys.ts';
import { keyringFrom } from '../../src/apps/secret-key.ts';
import { buildApp, type App } from '../../src/api/app.ts';
import type { Context } from '../../src/core/context.ts';
import type { DomainHooks } from '../../src/core/hooks.ts';
import type { Pool } from '../../src/db/pool.ts';
import { buildServices, type Services } from '../../src/runtime/services.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export interface TestHarness {
  readonly db: TestDatabase;
  readonly ctx: Context;
  readonly services: Services;
  readonly app: App;
  /** An admin API key (Authorization: Bearer ...). */
  readonly apiKey: string;
  /** inject() with the admin key and JSON body unless headers say otherwise. */
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
  /** The domain hooks the services run now. */
  readonly hooks: DomainHooks;
  /** Run these domain hooks from now on (undefined: the engine's, `services.hooks`). */
  useHooks(hooks: DomainHooks | undefined): void;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Connections of the test database's pool (default 10). */
  readonly poolSize?: number;
  /** The pool the app and the services use instead of the test database's (one whose server is down, say). */
  readonly pool?: Pool;
  /** Domain hooks in place of the engine's from the start (NO_HOOKS: users, devices and reminders alone). */
  readonly hooks?: DomainHooks;
  /** Routes a test adds to the app before it is ready. */
  readonly routes?: (app: App) => void;
}

export const TEST_JWT_SECRET = 'test-user-jwt-secret-0123456789abcdef';

/**
 * The fake providers and receivers listen on loopback, which the outbound policy refuses by
 * default: the tests allow it the way an operator would, with HERALD_OUTBOUND_ALLOW.
 */
export const TEST_OUTBOUND_ALLOW = 'localhost,127.0.0.0/8,::1';

export async function testConfig(env: Record<string, string> = {}, databaseUrl?: string): Promise<Config> {
  return loadConfig({
    HERALD_DATABASE_URL: databaseUrl ?? 'postgres://unused@127.0.0.1/unused',
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_USER_JWT_SECRET: TEST_JWT_SECRET,
    HERALD_LOG_LEVEL: process.env.HERALD_LOG_LEVEL ?? 'silent',
    HERALD_DATA_DIR: await mkdtemp(path.join(tmpdir(), 'herald-test-')),
    HERALD_OUTBOUND_ALLOW: TEST_OUTBOUND_ALLOW,
    ...env,
  });
}

export async function testContext(db: TestDatabase, env: Record<string, string> = {}): Promise<Context> {
  const config = await testConfig(env, db.url);
  const migrations = await loadMigrations();
  return {
    config,
    log: createLogger(config.logLevel),
    pool: db.pool,
    metrics: new Registry(),
    keyring: await keyringFrom(randomBytes(32).toString('hex')),
    dataDir: config.dataDir,
    latestMigration: migrations.at(-1)?.version ?? 0,
  };
}

/**
 * A fresh database, context, services and API app: the one setup every test file starts from
 * (the engine's helpers in engine.ts build on it).
 */
export async function createHarness(env: Record<string, string> = {}, options: HarnessOptions = {}): Promise<TestHarness> {
  const db = await createTestDatabase(options.poolSize);
  const tested = await testContext(db, env);
  const ctx = options.pool ? { ...tested, pool: options.pool } : tested;
  let hooks = options.hooks;
  const services = buildServices(ctx, { hooks: (engine) => hooks ?? engine });
  const app = await buildApp({ ctx, services, draining: () => false });
  options.routes?.(app);
  await app.ready();
  const { key } = await createApiKey(db.pool, 'test');
  return {
    db,
    ctx,
    services,
    app,
    apiKey: key,
    request(options) {
      const headers: Record<string, string> = { authorization: `Bearer ${key}`, ...(options.headers as Record<string, string> | undefined) };
      return app.inject({ ...options, headers });
    },
    get hooks() {
      return hooks ?? services.hooks;
    },
    useHooks(next) {
      hooks = next;
    },
    async close() {
      await app.close();
      await services.close();
      await db.close();
      await rm(ctx.dataDir, { recursive: true, force: true });
    },
  };
}
