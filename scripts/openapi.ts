#!/usr/bin/env node
// Prints herald's OpenAPI document without a database or a listening server: the Fastify app is
// built with a context whose pool never connects (pg connects lazily, and building routes runs
// no query), and the document comes from the same TypeBox schemas that validate requests.
//
//   node scripts/openapi.ts > openapi.json
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { buildApp } from '../src/api/app.ts';
import { loadConfig } from '../src/config/index.ts';
import { createPool } from '../src/db/pool.ts';
import { createLogger } from '../src/log/index.ts';
import { buildServices } from '../src/runtime/services.ts';
import { keyringFrom } from '../src/apps/secret-key.ts';

export async function openapiDocument(): Promise<Record<string, unknown>> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'herald-openapi-'));
  const config = loadConfig({
    HERALD_DATABASE_URL: 'postgres://openapi@127.0.0.1:1/never-connected',
    HERALD_SECRET_KEY: 'openapi-document-only',
    HERALD_DATA_DIR: dataDir,
    HERALD_LOG_LEVEL: 'silent',
  });
  const pool = createPool(config.databaseUrl!, 1);
  const ctx = { config, log: createLogger('silent'), pool, metrics: new Registry(), keyring: await keyringFrom(randomBytes(32).toString('hex')), dataDir, latestMigration: 0 };
  const services = buildServices(ctx);
  const app = await buildApp({ ctx, services, draining: () => false });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
    await services.close();
    await pool.end();
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await openapiDocument(), null, 2)}\n`);
}
