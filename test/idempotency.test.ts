import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { NO_HOOKS } from '../src/core/hooks.ts';

let h: TestHarness;
before(async () => {
  h = await createHarness({}, { hooks: NO_HOOKS });
});
after(async () => {
  await h.close();
});

const date = new Date(Date.now() + 3_600_000).toISOString();
const count = async (sql: string) => (await h.db.pool.query(sql)).rowCount;

test('a POST repeated with the same Idempotency-Key and body is performed once and answers the first response', async () => {
  const send = (headerName: string) =>
    h.request({ method: 'POST', url: '/v1/users/idem/reminders', headers: { [headerName]: 'key-1' }, payload: { date, message: 'once' } });
  const first = await send('Idempotency-Key');
  assert.equal(first.statusCode, 201, first.body);
  const again = await send('idempotency-key'); // seed 002's spelling: header names are case-insensitive
  assert.equal(again.statusCode, 201);
  assert.equal(again.body, first.body);
  assert.equal(again.headers['idempotent-replayed'], 'true');
  assert.equal(await count(`SELECT 1 FROM reminders WHERE user_id = 'idem'`), 1);
  assert.equal(await count(`SELECT 1 FROM events WHERE user_id = 'idem'`), 1);
});

test('the same key with a different body is 422 IDEMPOTENCY_KEY_REUSED and changes nothing', async () => {
  const res = await h.request({ method: 'POST', url: '/v1/users/idem/reminders', headers: { 'Idempotency-Key': 'key-1' }, payload: { date, message: 'twice?' } });
  assert.equal(res.statusCode, 422);
  assert.equal(res.json().error.code, 'IDEMPOTENCY_KEY_REUSED');
  assert.equal(await count(`SELECT 1 FROM reminders WHERE user_id = 'idem'`), 1);
});

test('device registration and seed-style reminder update honour the key too', async () => {
  const reg = () => h.request({ method: 'POST', url: '/v1/users/idem/devices', headers: { 'Idempotency-Key': 'dev-1' }, payload: { platform: 'android', token: 'idem-token' } });
  const a = await reg();
  const b = await reg();
  assert.equal(a.statusCode, 201);
  assert.equal(b.statusCode, 201, 'the replay answers the first status, not 200 for an existing device');
  assert.equal(b.body, a.body);
  assert.equal(await count(`SELECT 1 FROM events WHERE user_id = 'idem' AND type = 'device:registered'`), 1);
});

test('a failed first attempt (4xx) is replayed as that 4xx', async () => {
  const bad = () => h.request({ method: 'POST', url: '/v1/users/idem/reminders', headers: { 'Idempotency-Key': 'bad-1' }, payload: { date: '2001-01-01T00:00:00Z', message: 'past' } });
  const a = await bad();
  const b = await bad();
  assert.equal(a.statusCode, 422);
  assert.equal(b.statusCode, 422);
  assert.equal(b.body, a.body);
  assert.equal(a.headers['idempotent-replayed'], undefined);
  assert.equal(b.headers['idempotent-replayed'], 'true', 'the replay says it is one, as a replayed 2xx does');
});
