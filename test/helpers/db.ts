import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPool, type Pool } from '../../src/db/pool.ts';
import { loadMigrations, migrate } from '../../src/db/migrate.ts';

/**
 * One database per test file, copied from a migrated template (named by a hash of the migrations,
 * so a changed migration makes a new template). Set HERALD_TEST_KEEP_DB=1 to keep the databases
 * for inspection.
 */
export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  readonly pool: Pool;
  close(): Promise<void>;
}

export function adminUrl(): string {
  const url = process.env.HERALD_TEST_DATABASE_URL;
  if (!url) throw new Error('HERALD_TEST_DATABASE_URL is not set: run the tests with `npm test`');
  return url;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function ensureTemplate(admin: pg.Client): Promise<string> {
  const migrations = await loadMigrations();
  const hash = createHash('sha256');
  for (const m of migrations) hash.update(m.name).update(m.sql);
  const name = `herald_tpl_${hash.digest('hex').slice(0, 12)}`;
  await admin.query('SELECT pg_advisory_lock(7310002)');
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      const building = `${name}_build_${randomBytes(3).toString('hex')}`;
      await admin.query(`CREATE DATABASE ${building}`);
      const pool = createPool(withDatabase(adminUrl(), building), 2);
      try {
        await migrate(pool);
      } finally {
        await pool.end();
      }
      await admin.query(`ALTER DATABASE ${building} RENAME TO ${name}`);
    }
  } finally {
    await admin.query('SELECT pg_advisory_unlock(7310002)');
  }
  return name;
}

export async function createTestDatabase(poolSize = 10): Promise<TestDatabase> {
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  let name: string;
  try {
    const template = await ensureTemplate(admin);
    name = `herald_t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl(), name);
  const pool = createPool(url, poolSize);
  return {
    url,
    name,
    pool,
    async close() {
      await pool.end().catch(() => undefined);
      if (process.env.HERALD_TEST_KEEP_DB) return;
      const c = new pg.Client({ connectionString: adminUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await c.end();
    },
  };
}
