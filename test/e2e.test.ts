import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { ensureBuilt, freePort, runHerald, spawnHerald, tempDir, waitFor200, type HeraldProcess } from './helpers/herald-process.ts';

/** The real `herald start` process, driven over HTTP as a user of the README would. */
let db: TestDatabase;
let herald: HeraldProcess;
let base: string;
let dataDir: string;
let env: Record<string, string>;
const apiKey = `hk_${randomBytes(24).toString('base64url')}`;

before(async () => {
  await ensureBuilt();
  db = await createTestDatabase(2);
  dataDir = await tempDir('herald-e2e-');
  const port = await freePort();
  env = {
    HERALD_DATABASE_URL: db.url,
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_API_KEY: apiKey,
    HERALD_PORT: String(port),
    HERALD_HOST: '127.0.0.1',
    HERALD_DATA_DIR: dataDir,
  };
  herald = spawnHerald(['start'], env);
  base = `http://127.0.0.1:${port}`;
  await waitFor200(`${base}/readyz`, herald);
});

after(async () => {
  if (herald.child.exitCode === null) {
    herald.child.kill('SIGKILL');
    await herald.exited;
  }
  await db.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown, key = apiKey): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

test('register a device, create a reminder and read their events over HTTP', async () => {
  const device = await call('POST', '/v1/users/ada/devices', { platform: 'ios', token: 'ab'.repeat(32), name: "Ada's iPhone" });
  assert.equal(device.status, 201, `${JSON.stringify(device.json)}\n${herald.output()}`);
  const date = new Date(Date.now() + 24 * 3_600_000).toISOString();
  const reminder = await call('POST', '/v1/users/ada/reminders', { date, message: 'Stand-up', notifyOffset: 10, recurrence: 'FREQ=WEEKLY;BYDAY=MO,WE', timezone: 'Europe/Berlin' });
  assert.equal(reminder.status, 201, `${JSON.stringify(reminder.json)}\n${herald.output()}`);
  assert.ok(reminder.json.nextFireAt);
  const events = await call('GET', '/v1/users/ada/events');
  assert.equal(events.status, 200);
  const seen = events.json.items.map((e: { type: string; itemId: string }) => `${e.type} ${e.itemId}`);
  assert.ok(seen.includes(`device:registered ${device.json.id}`), seen.join(', '));
  assert.ok(seen.includes(`reminder:created ${reminder.json.id}`), seen.join(', '));
  const doc = await fetch(`${base}/openapi.json`).then((r) => r.json() as Promise<{ paths: Record<string, unknown> }>);
  assert.ok(doc.paths['/v1/users/{userId}/reminders'], 'the OpenAPI document lists the reminder routes');
});

test('`herald keys create` prints a key that the running server accepts', async () => {
  const { code, stdout, stderr } = await runHerald(['keys', 'create', '--name', 'e2e'], env);
  assert.equal(code, 0, stderr);
  const key = stdout.trim();
  assert.match(key, /^hk_[A-Za-z0-9_-]{20,}$/);
  const res = await call('PUT', '/v1/users/from-cli-key', { name: 'CLI' }, key);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.equal((await call('GET', '/v1/users/from-cli-key', undefined, 'hk_not-a-key')).status, 401);
});

test('SIGTERM shuts herald down cleanly with exit code 0', async () => {
  herald.child.kill('SIGTERM');
  const code = await herald.exited;
  assert.equal(code, 0, herald.output());
});
