import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { loadConfig, ConfigError, redactedEnvironment, ROLE_NAMES, type Config, type RoleName } from '../config/index.ts';
import { createLogger, type Logger } from '../log/index.ts';
import { startHerald, openDatabase } from '../runtime/index.ts';
import { migrate } from '../db/migrate.ts';
import { createApiKey, listApiKeys, revokeApiKey } from '../auth/api-keys.ts';
import { DataDirInUseError } from '../db/embedded.ts';

const USAGE = `herald — self-hosted notification delivery

Usage: herald <command> [options]

Roles (run until SIGTERM/SIGINT):
  start                     every role in one process (HERALD_ROLES narrows it)
  api                       the HTTP API
  scheduler                 fires reminders and schedules their next occurrence
  worker [--channels a,b]   claims due deliveries and sends them
  relay                     publishes outbox events to HERALD_EVENTS_BROKER
  ingest [--from pubsub|sqs|nats]
                            turns broker messages into notifications
  ingest-apns               Pub/Sub APNs messages (the old APNs worker's) into deliveries

Administration:
  migrate                   apply database migrations and exit
  keys create [--name N]    create an API key and print it (once)
  keys list                 list API keys (ids and prefixes, never keys)
  keys revoke <id>          revoke an API key
  config                    print the configuration as parsed, secrets redacted
  version                   print the version

Configuration is read from HERALD_* environment variables: see docs/configuration.md.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * Run roles until a signal arrives, then shut down gracefully (a second signal forces exit). The
 * handlers are installed before start-up, so a SIGTERM that arrives while roles are still
 * starting waits for them and then stops them cleanly instead of killing the process.
 */
async function runRoles(config: Config, log: Logger, roles: readonly RoleName[], optional: boolean, extra: { channels?: string[]; ingestFrom?: string }): Promise<void> {
  let signalled: NodeJS.Signals | undefined;
  let onStop: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = signal;
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error('graceful shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 5_000).unref();
    onStop?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const herald = await startHerald(config, log, roles, { optional, channels: extra.channels, ingestFrom: extra.ingestFrom });
  if (!signalled) log.info({ roles: herald.roles.map((r) => r.name) }, 'herald is running');
  await new Promise<void>((resolve) => {
    onStop = resolve;
    if (signalled) resolve();
  });
  await herald.stop().catch((err: unknown) => log.error({ err }, 'shutdown failed'));
}

export async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return;
  }
  if (command === 'version' || command === '--version') {
    console.log(version());
    return;
  }
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`herald: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));

  try {
    switch (command) {
      case 'start':
        await runRoles(config, log, config.roles, true, {});
        return;
      case 'api':
      case 'scheduler':
      case 'relay':
      case 'ingest-apns':
        await runRoles(config, log, [command], false, {});
        return;
      case 'worker': {
        const { values } = parseArgs({ args: rest, options: { channels: { type: 'string' } } });
        const channels = values.channels?.split(',').map((s) => s.trim()).filter(Boolean);
        await runRoles(config, log, ['worker'], false, channels ? { channels } : {});
        return;
      }
      case 'ingest': {
        const { values } = parseArgs({ args: rest, options: { from: { type: 'string' } } });
        await runRoles(config, log, ['ingest'], false, values.from ? { ingestFrom: values.from } : {});
        return;
      }
      case 'migrate': {
        const db = await openDatabase(config, log, 'herald:migrate');
        try {
          const applied = await migrate(db.pool, log);
          console.log(applied.length ? `applied migrations: ${applied.join(', ')}` : 'database is up to date');
        } finally {
          await db.close();
        }
        return;
      }
      case 'keys':
        await keys(config, log, rest);
        return;
      case 'config':
        console.log(JSON.stringify(redactedEnvironment(process.env), null, 2));
        return;
      default:
        console.error(`herald: unknown command "${command}"\n\n${USAGE}`);
        process.exit(2);
    }
  } catch (err) {
    if (err instanceof DataDirInUseError) {
      console.error(`herald: ${err.message}`);
      process.exit(1);
    }
    log.fatal({ err }, 'herald failed');
    process.exit(1);
  }
}

async function keys(config: Config, log: Logger, args: readonly string[]): Promise<void> {
  const [sub, ...rest] = args;
  const db = await openDatabase(config, log.child({}, { level: 'warn' }), 'herald:keys');
  try {
    await migrate(db.pool);
    if (sub === 'create') {
      const { values } = parseArgs({ args: rest, options: { name: { type: 'string', default: 'cli' } } });
      const { key, record } = await createApiKey(db.pool, values.name ?? 'cli');
      console.log(key);
      console.error(`created API key ${record.id} (${record.name}); it is shown only this once`);
    } else if (sub === 'list') {
      for (const k of await listApiKeys(db.pool)) console.log(`${k.id}\t${k.prefix}…\t${k.name}\t${k.createdAt.toISOString()}`);
    } else if (sub === 'revoke' && rest[0]) {
      const ok = await revokeApiKey(db.pool, rest[0]);
      console.log(ok ? `revoked ${rest[0]}` : `no active key ${rest[0]}`);
      if (!ok) process.exitCode = 1;
    } else {
      console.error('usage: herald keys create [--name NAME] | keys list | keys revoke <id>');
      process.exitCode = 2;
    }
  } finally {
    await db.close();
  }
}

export { ROLE_NAMES };
