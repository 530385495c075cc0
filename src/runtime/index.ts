import path from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Config, RoleName } from '../config/index.ts';
import { redactConfig } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import { createPool, type Pool } from '../db/pool.ts';
import { startEmbedded, type EmbeddedDatabase } from '../db/embedded.ts';
import { migrate, loadMigrations } from '../db/migrate.ts';
import { resolveKeyring } from '../apps/secret-key.ts';
import { ensureBootstrapKey } from '../auth/api-keys.ts';
import type { Context, Role } from '../core/context.ts';
import { buildServices, type Services } from './services.ts';
import { ROLE_FACTORIES, type RoleOptions } from './roles/index.ts';
import { opsRole } from './roles/ops.ts';

export interface Database {
  readonly pool: Pool;
  readonly url: string;
  close(): Promise<void>;
}

/** HERALD_DATABASE_URL, or the embedded PostgreSQL in the data directory. */
export async function openDatabase(config: Config, log: Logger, applicationName = 'herald'): Promise<Database> {
  let embedded: EmbeddedDatabase | undefined;
  const url = config.databaseUrl ?? (embedded = await startEmbedded(config.dataDir, log)).url;
  const pool = createPool(url, config.databasePoolSize, log, applicationName);
  return {
    pool,
    url,
    async close() {
      await pool.end().catch(() => undefined);
      await embedded?.stop();
    },
  };
}

/**
 * A registry with the process metrics under their conventional names (`process_cpu_seconds_total`,
 * `nodejs_eventloop_lag_seconds`, ...: what Node.js dashboards and alerts query); herald's own
 * metrics add the one `herald_` prefix. prom-client's three gauges named `nodejs_active_*_total`
 * are dropped: only counters may end in `_total`, and `sum(nodejs_active_handles)` (and friends,
 * by type) give the same numbers.
 */
export function processMetrics(): Registry {
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  for (const gauge of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    metrics.removeSingleMetric(gauge);
  }
  return metrics;
}

export interface Herald {
  readonly ctx: Context;
  readonly services: Services;
  readonly roles: readonly Role[];
  stop(): Promise<void>;
}

/**
 * The composition root: configuration → database → migrations → context → services → roles.
 * `herald start` passes every role; `herald worker` and friends pass one.
 */
export async function startHerald(
  config: Config,
  log: Logger,
  roleNames: readonly RoleName[],
  options: RoleOptions,
): Promise<Herald> {
  log.info({ config: redactConfig(config), roles: roleNames }, 'starting herald');
  const db = await openDatabase(config, log, `herald:${roleNames.join(',')}`);
  const started: Role[] = [];
  try {
    await migrate(db.pool, log);
    const migrations = await loadMigrations();
    const dataDir = path.resolve(config.dataDir);
    const metrics = processMetrics();
    const ctx: Context = {
      config,
      log,
      pool: db.pool,
      metrics,
      keyring: await resolveKeyring(config.secretKey, config.secretKeysPrevious, dataDir),
      dataDir,
      latestMigration: migrations.at(-1)?.version ?? 0,
    };
    if (config.apiKey) await ensureBootstrapKey(db.pool, config.apiKey);
    const services = buildServices(ctx);
    if (!roleNames.includes('api')) {
      const ops = opsRole(ctx, services);
      await ops.start();
      started.push(ops);
    }
    // The API last: once /readyz answers, every role of this process is running.
    const ordered = [...roleNames.filter((r) => r !== 'api'), ...roleNames.filter((r) => r === 'api')];
    for (const name of ordered) {
      const role = await ROLE_FACTORIES[name](ctx, services, options);
      if (!role) {
        if (!options.optional) throw new Error(`role ${name} is not configured (see docs/configuration.md)`);
        log.debug({ role: name }, 'role not configured; skipped');
        continue;
      }
      await role.start();
      started.push(role);
    }
    let stopping: Promise<void> | undefined;
    return {
      ctx,
      services,
      roles: started,
      stop() {
        stopping ??= (async () => {
          for (const role of [...started].reverse()) {
            await role.stop().catch((err: unknown) => log.error({ err, role: role.name }, 'role failed to stop'));
          }
          await services.close();
          await db.close();
          log.info('herald stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    for (const role of started.reverse()) await role.stop().catch(() => undefined);
    await db.close();
    throw err;
  }
}
