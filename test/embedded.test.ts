import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import path from 'node:path';
import pg from 'pg';
import { startEmbedded, DataDirInUseError } from '../src/db/embedded.ts';
import { createLogger } from '../src/log/index.ts';
import { createPool } from '../src/db/pool.ts';
import { migrate, loadMigrations } from '../src/db/migrate.ts';
import { adminUrl } from './helpers/db.ts';

const log = createLogger('silent');

test('the embedded PostgreSQL starts, keeps its data, and refuses a second herald on the same directory', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'herald-embedded-'));
  try {
    const first = await startEmbedded(dir, log);
    const url = new URL(first.url);
    assert.equal(url.hostname, '127.0.0.1', 'listens on loopback only');
    assert.notEqual(url.port, '5432', 'a free port of its own, not the usual one');
    assert.ok(url.password.length >= 20, 'a generated password');
    const client = new pg.Client({ connectionString: first.url });
    await client.connect();
    await client.query('CREATE TABLE kept (v text)');
    await client.query(`INSERT INTO kept VALUES ('still here')`);
    await client.end();

    await assert.rejects(startEmbedded(dir, log), (err: unknown) => {
      assert.ok(err instanceof DataDirInUseError);
      assert.match((err as Error).message, /in use by another herald \(pid \d+\)/);
      return true;
    });

    await first.stop();
    const state = JSON.parse(await readFile(path.join(dir, 'embedded.json'), 'utf8')) as { port: number };
    assert.equal(String(state.port), url.port, 'the port is recorded in the data directory');

    const second = await startEmbedded(dir, log);
    const again = new pg.Client({ connectionString: second.url });
    await again.connect();
    const { rows } = await again.query<{ v: string }>('SELECT v FROM kept');
    await again.end();
    await second.stop();
    assert.deepEqual(rows, [{ v: 'still here' }]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('migrations are safe when several processes start at once', async () => {
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  const name = `herald_mig_${Date.now().toString(36)}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(adminUrl());
  u.pathname = `/${name}`;
  const pools = Array.from({ length: 4 }, () => createPool(u.toString(), 2));
  try {
    const applied = await Promise.all(pools.map((p) => migrate(p)));
    const all = (await loadMigrations()).map((m) => m.version);
    assert.deepEqual(applied.flat().sort((a, b) => a - b), all, 'each migration applied exactly once in all');
    const { rows } = await pools[0]!.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
    assert.equal(rows[0]!.n, all.length);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
});

test('logs redact credentials, tokens and secrets', () => {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  const logger = createLogger('info', sink);
  logger.info({
    req: { headers: { authorization: 'Bearer hk_very_secret_key' } },
    config: { apiKey: 'hk_another_secret', webhook: { secret: 'whsec_123' }, databaseUrl: 'postgres://u:pw@h/db' },
    device: { token: 'abcdef0123456789' },
  }, 'hello');
  assert.match(out, /hello/);
  for (const secret of ['hk_very_secret_key', 'hk_another_secret', 'whsec_123', 'pw@h', 'abcdef0123456789']) {
    assert.ok(!out.includes(secret), `${secret} leaked: ${out}`);
  }
  assert.match(out, /\[redacted\]/);
});
