import { randomBytes } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db.ts';
import { freePort, spawnHerald, tempDir, type HeraldProcess } from '../../test/helpers/herald-process.ts';

export interface BenchApi {
  readonly db: TestDatabase;
  readonly dataDir: string;
  readonly apiKey: string;
  readonly base: string;
  readonly api: HeraldProcess;
}

/**
 * A real `herald api` process on a fresh database, as the write-path benchmarks measure it: an
 * admin key, a pool of 20 and the per-key request limiter off (it would answer 429 to a
 * benchmark's flood; the write path is what is measured). Not yet ready: wait for /readyz.
 */
export async function startBenchApi(name: string, env: Record<string, string> = {}): Promise<BenchApi> {
  const db = await createTestDatabase(2);
  const { dataDir, apiKey, base, api } = await spawnBenchApi(db, name, env);
  return { db, dataDir, apiKey, base, api };
}

/** Another `herald api` on the same database, e.g. of another build (`root`) for before/after figures. */
export async function spawnBenchApi(db: TestDatabase, name: string, env: Record<string, string> = {}, root?: string): Promise<Omit<BenchApi, 'db'>> {
  const dataDir = await tempDir(`herald-bench-${name}-`);
  const apiKey = `hk_${randomBytes(24).toString('base64url')}`;
  const port = await freePort();
  const api = spawnHerald(['api'], {
    HERALD_DATABASE_URL: db.url,
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_API_KEY: apiKey,
    HERALD_PORT: String(port),
    HERALD_HOST: '127.0.0.1',
    HERALD_DATA_DIR: dataDir,
    HERALD_DATABASE_POOL_SIZE: '20',
    HERALD_RATE_LIMIT_PER_KEY: '0',
    HERALD_LOG_LEVEL: 'warn',
    ...env,
  }, root);
  return { dataDir, apiKey, base: `http://127.0.0.1:${port}`, api };
}
