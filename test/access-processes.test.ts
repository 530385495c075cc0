import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { ensureBuilt, freePort, runHerald, spawnHerald, tempDir, waitFor200, type HeraldProcess } from './helpers/herald-process.ts';

/**
 * Two real `herald api` processes on one database: a key revoked through one is refused by the
 * other at once, and a key's rate limit is one budget whichever process a request reaches.
 */
let db: TestDatabase;
let dataDir: string;
let env: Record<string, string>;
const procs: HeraldProcess[] = [];
const bases: string[] = [];
let admin: string;

before(async () => {
  await ensureBuilt();
  db = await createTestDatabase(2);
  dataDir = await tempDir('herald-access-');
  env = {
    HERALD_DATABASE_URL: db.url,
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_HOST: '127.0.0.1',
    HERALD_DATA_DIR: dataDir,
    HERALD_RATE_LIMIT_PER_KEY: '10',
    HERALD_RATE_LIMIT_WINDOW_SECONDS: '3600',
  };
  const made = await runHerald(['keys', 'create', '--name', 'ops'], env);
  assert.equal(made.code, 0, made.stderr);
  admin = made.stdout.trim();
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const proc = spawnHerald(['api'], { ...env, HERALD_PORT: String(port) });
    procs.push(proc);
    bases.push(`http://127.0.0.1:${port}`);
  }
  await Promise.all(bases.map((b, i) => waitFor200(`${b}/readyz`, procs[i]!)));
});

after(async () => {
  for (const p of procs) {
    if (p.child.exitCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
  await db.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function call(base: string, method: string, path: string, key: string, body?: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

test('`herald keys create --scopes --app --expires` makes a key the API holds to its scopes', async () => {
  const made = await runHerald(['keys', 'create', '--name', 'ci', '--scopes', 'users:read', '--app', 'shop', '--expires', '30d'], env);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stderr, /users:read; apps shop; expires/);
  const key = made.stdout.trim();
  const forbidden = await call(bases[0]!, 'PUT', '/v1/users/cli-user', key, {});
  assert.equal(forbidden.status, 403);
  assert.equal(((await forbidden.json()) as { error: { details: { scope: string }[] } }).error.details[0]!.scope, 'users:write');
  const refused = await runHerald(['keys', 'create', '--scopes', 'users:fly'], env);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /unknown scope users:fly/);
});

test('a key revoked through one API process is refused by the other within a second', async (t) => {
  const created = await call(bases[0]!, 'POST', '/v1/keys', admin, { name: 'soon revoked', scopes: ['keys:read'] });
  assert.equal(created.status, 201);
  const { id, key } = (await created.json()) as { id: string; key: string };
  // Both processes have verified (and cached) the key.
  for (const base of bases) assert.equal((await call(base, 'GET', '/v1/keys', key)).status, 200);
  assert.equal((await call(bases[0]!, 'DELETE', `/v1/keys/${id}`, admin)).status, 204);
  const revokedAt = Date.now();
  let status = 0;
  while (Date.now() - revokedAt < 1000) {
    status = (await call(bases[1]!, 'GET', '/v1/keys', key)).status;
    if (status === 401) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(status, 401, 'the second process still accepted the revoked key a second later');
  t.diagnostic(`refused by the second process ${Date.now() - revokedAt} ms after the revocation was answered`);
});

test("a key's rate limit is shared by both processes: 12 requests against a limit of 10 get two 429s with Retry-After", async () => {
  const created = await call(bases[0]!, 'POST', '/v1/keys', admin, { name: 'burst', scopes: ['keys:read'] });
  const { key } = (await created.json()) as { key: string };
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => call(bases[i % 2]!, 'GET', '/v1/keys', key)));
  const statuses = answers.map((r) => r.status).sort();
  assert.deepEqual(statuses, [...Array(10).fill(200), 429, 429]);
  for (const r of answers.filter((a) => a.status === 429)) {
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    assert.equal(r.headers.get('ratelimit-limit'), '10');
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'RATE_LIMITED');
  }
  // Both processes refuse it now, each having counted only part of the burst.
  for (const base of bases) assert.equal((await call(base, 'GET', '/v1/keys', key)).status, 429);
});
