import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { NO_HOOKS } from '../src/core/hooks.ts';

let h: TestHarness;
before(async () => {
  // The API contract on its own: the engine's hooks have their own tests.
  h = await createHarness({}, { hooks: NO_HOOKS });
});
after(async () => {
  await h.close();
});

async function events(userId: string): Promise<string[]> {
  const { rows } = await h.db.pool.query<{ type: string }>(`SELECT type FROM events WHERE user_id = $1 ORDER BY id`, [userId]);
  return rows.map((r) => r.type);
}

test('PUT creates and replaces a user; GET reads it back', async () => {
  const created = await h.request({ method: 'PUT', url: '/v1/users/ada', payload: { email: 'ada@example.com', name: 'Ada', timezone: 'Europe/Berlin', preferences: { channels: { email: false } } } });
  assert.equal(created.statusCode, 200, created.body);
  assert.equal(created.json().timezone, 'Europe/Berlin');
  assert.deepEqual(created.json().preferences, { channels: { email: false } });

  const replaced = await h.request({ method: 'PUT', url: '/v1/users/ada', payload: { name: 'Ada L.' } });
  assert.equal(replaced.statusCode, 200);
  assert.equal(replaced.json().email, null, 'PUT replaces: absent fields are cleared');
  const got = await h.request({ url: '/v1/users/ada' });
  assert.equal(got.statusCode, 200);
  assert.equal(got.json().name, 'Ada L.');
  assert.deepEqual(await events('ada'), ['user:updated', 'user:updated']);
});

test('a timezone that is not IANA is 422 INVALID_TIMEZONE and writes nothing', async () => {
  const res = await h.request({ method: 'PUT', url: '/v1/users/tz', payload: { timezone: 'Mars/Olympus' } });
  assert.equal(res.statusCode, 422);
  assert.equal(res.json().error.code, 'INVALID_TIMEZONE');
  assert.equal((await h.db.pool.query(`SELECT 1 FROM users WHERE id = 'tz'`)).rowCount, 0);
  assert.deepEqual(await events('tz'), []);
});

test('GET of an unknown user is 404 NOT_FOUND', async () => {
  const res = await h.request({ url: '/v1/users/nobody' });
  assert.equal(res.statusCode, 404);
  assert.equal(res.json().error.code, 'NOT_FOUND');
});

test('DELETE removes the user with devices and reminders, and records user:deleted', async () => {
  await h.request({ method: 'PUT', url: '/v1/users/bob', payload: {} });
  const dev = await h.request({ method: 'POST', url: '/v1/users/bob/devices', payload: { platform: 'android', token: 'fcm-token-bob' } });
  assert.equal(dev.statusCode, 201, dev.body);
  const rem = await h.request({ method: 'POST', url: '/v1/users/bob/reminders', payload: { date: new Date(Date.now() + 3_600_000).toISOString(), message: 'hi' } });
  assert.equal(rem.statusCode, 201, rem.body);
  const del = await h.request({ method: 'DELETE', url: '/v1/users/bob' });
  assert.equal(del.statusCode, 204);
  assert.equal(del.body, '');
  assert.equal((await h.db.pool.query(`SELECT 1 FROM devices WHERE user_id = 'bob'`)).rowCount, 0);
  assert.equal((await h.db.pool.query(`SELECT 1 FROM reminders WHERE user_id = 'bob'`)).rowCount, 0);
  assert.equal((await events('bob')).at(-1), 'user:deleted');
  assert.equal((await h.request({ method: 'DELETE', url: '/v1/users/bob' })).statusCode, 404);
});

test('the domain hooks run inside the transaction: a failing hook rolls the change back', async () => {
  await h.request({ method: 'PUT', url: '/v1/users/carol', payload: {} });
  const saved = h.hooks;
  h.useHooks({ ...saved, async userDeleted() { throw new Error('engine refused'); } });
  try {
    const res = await h.request({ method: 'DELETE', url: '/v1/users/carol' });
    assert.equal(res.statusCode, 500);
    assert.equal(res.json().error.code, 'INTERNAL');
  } finally {
    h.useHooks(saved);
  }
  assert.equal((await h.db.pool.query(`SELECT 1 FROM users WHERE id = 'carol'`)).rowCount, 1);
  assert.deepEqual(await events('carol'), ['user:updated']);
});

test('a user id of 200 characters, non-ASCII ones included, is reachable by its path; 201 characters is 400', async () => {
  for (const id of ['x'.repeat(200), `${'σ'.repeat(150)}${'𝄞'.repeat(50)}`]) {
    const url = `/v1/users/${encodeURIComponent(id)}`;
    assert.equal((await h.request({ method: 'PUT', url, payload: { name: 'Long' } })).statusCode, 200);
    const got = await h.request({ method: 'GET', url });
    assert.equal(got.statusCode, 200, got.body);
    assert.equal(got.json().id, id);
    assert.equal((await h.request({ method: 'DELETE', url })).statusCode, 204);
  }
  for (const id of ['x'.repeat(201), 'σ'.repeat(1300)]) {
    const res = await h.request({ method: 'GET', url: `/v1/users/${encodeURIComponent(id)}` });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error.code, 'VALIDATION_FAILED');
  }
});
