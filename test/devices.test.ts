import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { createHarness, TEST_JWT_SECRET, type TestHarness } from './helpers/app.ts';
import { NO_HOOKS } from '../src/core/hooks.ts';

let h: TestHarness;
before(async () => {
  h = await createHarness({}, { hooks: NO_HOOKS });
});
after(async () => {
  await h.close();
});

const IOS = 'a'.repeat(64);
const WEB = { endpoint: 'https://push.example.com/send/abc', keys: { p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM', auth: 'tBHItJI5svbpez7KI4CCXg' } };

async function userToken(sub: string): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));
}
const eventTypes = async (userId: string) =>
  (await h.db.pool.query<{ type: string }>(`SELECT type FROM events WHERE user_id = $1 ORDER BY id`, [userId])).rows.map((r) => r.type);

test('registering an iOS device creates the user and answers 201; the same token again is 200 with the same device', async () => {
  const first = await h.request({ method: 'POST', url: '/v1/users/u1/devices', payload: { platform: 'ios', token: IOS.toUpperCase(), name: "Ada's iPhone", environment: 'development' } });
  assert.equal(first.statusCode, 201, first.body);
  const d = first.json();
  assert.equal(d.platform, 'ios');
  assert.equal(d.token, IOS, 'hex tokens are stored lower-case');
  assert.equal(d.appId, 'default');
  assert.equal(d.environment, 'development');
  assert.equal(d.status, 'active');
  assert.equal((await h.db.pool.query(`SELECT 1 FROM users WHERE id = 'u1'`)).rowCount, 1);

  const again = await h.request({ method: 'POST', url: '/v1/users/u1/devices', payload: { platform: 'ios', token: IOS } });
  assert.equal(again.statusCode, 200);
  assert.equal(again.json().id, d.id);
  assert.equal(again.json().name, "Ada's iPhone", 'a repeat without a name keeps it');
  assert.deepEqual(await eventTypes('u1'), ['device:registered']);
});

test('a token registered to another user moves to the new user', async () => {
  const a = await h.request({ method: 'POST', url: '/v1/users/mover-a/devices', payload: { platform: 'android', token: 'shared-fcm-token' } });
  const b = await h.request({ method: 'POST', url: '/v1/users/mover-b/devices', payload: { platform: 'android', token: 'shared-fcm-token' } });
  assert.equal(b.statusCode, 201);
  assert.equal(b.json().id, a.json().id);
  assert.equal(b.json().userId, 'mover-b');
  assert.deepEqual((await h.request({ url: '/v1/users/mover-a/devices' })).json().items, []);
  assert.deepEqual(await eventTypes('mover-a'), ['device:registered', 'device:removed']);
  assert.deepEqual(await eventTypes('mover-b'), ['device:registered']);
});

test('web devices are identified by their subscription endpoint', async () => {
  const res = await h.request({ method: 'POST', url: '/v1/users/webby/devices', payload: { platform: 'web', subscription: WEB, name: 'Firefox' } });
  assert.equal(res.statusCode, 201, res.body);
  assert.equal(res.json().token, WEB.endpoint);
  assert.deepEqual(res.json().subscription, WEB);
});

test('invalid shapes are 400 naming the field', async () => {
  const cases: Array<[unknown, string]> = [
    [{ platform: 'ios', token: 'not-hex' }, 'body.token'],
    [{ platform: 'ios', token: 'ab'.repeat(10) }, 'body.token'],
    [{ platform: 'android' }, 'body.token'],
    [{ platform: 'web', subscription: { endpoint: 'https://x.example' } }, 'body.subscription.keys'],
    [{ platform: 'web', subscription: { ...WEB, endpoint: 'http://insecure.example/x' } }, 'body.subscription.endpoint'],
    [{ platform: 'web' }, 'body.subscription'],
    [{ platform: 'blackberry', token: 'x' }, 'body.platform'],
    [{ platform: 'android', token: 'x', environment: 'production' }, 'body.environment'],
  ];
  for (const [payload, field] of cases) {
    const res = await h.request({ method: 'POST', url: '/v1/users/shape/devices', payload: payload as object });
    assert.equal(res.statusCode, 400, `${JSON.stringify(payload)} → ${res.body}`);
    assert.equal(res.json().error.code, 'VALIDATION_FAILED');
    assert.ok(JSON.stringify(res.json().error.details).includes(field), `${field} in ${res.body}`);
  }
  assert.equal((await h.db.pool.query(`SELECT 1 FROM users WHERE id = 'shape'`)).rowCount, 0);
});

test('an unknown appId is 422 UNKNOWN_APP', async () => {
  const res = await h.request({ method: 'POST', url: '/v1/users/u9/devices', payload: { platform: 'android', token: 't-unknown-app', appId: 'nope' } });
  assert.equal(res.statusCode, 422);
  assert.equal(res.json().error.code, 'UNKNOWN_APP');
});

test('validateDevice rejects an android token with 422 INVALID_DEVICE_TOKEN and the reason', async () => {
  h.useHooks({ ...NO_HOOKS, async validateDevice(d) { return d.token === 'bad-token' ? 'UNREGISTERED' : undefined; } });
  try {
    const bad = await h.request({ method: 'POST', url: '/v1/users/val/devices', payload: { platform: 'android', token: 'bad-token' } });
    assert.equal(bad.statusCode, 422);
    assert.equal(bad.json().error.code, 'INVALID_DEVICE_TOKEN');
    assert.equal(bad.json().error.details.reason, 'UNREGISTERED');
    const good = await h.request({ method: 'POST', url: '/v1/users/val/devices', payload: { platform: 'android', token: 'good-token' } });
    assert.equal(good.statusCode, 201);
  } finally {
    h.useHooks(NO_HOOKS);
  }
  assert.equal((await h.db.pool.query(`SELECT 1 FROM devices WHERE token = 'bad-token'`)).rowCount, 0);
});

test('list and delete; another user cannot see or delete the device through /v1/me', async () => {
  const created = (await h.request({ method: 'POST', url: '/v1/users/owner/devices', payload: { platform: 'android', token: 'owner-token' } })).json();
  const list = await h.request({ url: '/v1/users/owner/devices' });
  assert.deepEqual(list.json().items.map((d: { id: string }) => d.id), [created.id]);

  const intruder = await userToken('intruder');
  const mine = await h.app.inject({ url: '/v1/me/devices', headers: { authorization: `Bearer ${intruder}` } });
  assert.equal(mine.statusCode, 200);
  assert.deepEqual(mine.json().items, []);
  const steal = await h.app.inject({ method: 'DELETE', url: `/v1/me/devices/${created.id}`, headers: { authorization: `Bearer ${intruder}` } });
  assert.equal(steal.statusCode, 404);
  assert.equal(steal.json().error.code, 'NOT_FOUND');

  const owner = await userToken('owner');
  const del = await h.app.inject({ method: 'DELETE', url: `/v1/me/devices/${created.id}`, headers: { authorization: `Bearer ${owner}` } });
  assert.equal(del.statusCode, 204);
  assert.equal((await h.db.pool.query(`SELECT 1 FROM devices WHERE id = $1`, [created.id])).rowCount, 0);
  assert.equal((await eventTypes('owner')).at(-1), 'device:removed');
  assert.equal((await h.request({ method: 'DELETE', url: `/v1/users/owner/devices/${created.id}` })).statusCode, 404);
});

test('a device the provider rejected shows status invalid with reason and time', async () => {
  const d = (await h.request({ method: 'POST', url: '/v1/users/inv/devices', payload: { platform: 'ios', token: 'b'.repeat(64) } })).json();
  await h.db.pool.query(`UPDATE devices SET status = 'invalid', invalid_reason = 'BadDeviceToken', invalidated_at = now() WHERE id = $1`, [d.id]);
  const [shown] = (await h.request({ url: '/v1/users/inv/devices' })).json().items;
  assert.equal(shown.status, 'invalid');
  assert.equal(shown.invalidReason, 'BadDeviceToken');
  assert.ok(shown.invalidatedAt);
  const again = await h.request({ method: 'POST', url: '/v1/users/inv/devices', payload: { platform: 'ios', token: 'b'.repeat(64) } });
  assert.equal(again.json().status, 'active', 're-registering revives it');
});

test('concurrent registrations of one token make one device and never a 5xx', async () => {
  const same = await Promise.all(
    Array.from({ length: 10 }, () => h.request({ method: 'POST', url: '/v1/users/racer/devices', payload: { platform: 'android', token: 'raced-token' } })),
  );
  assert.deepEqual(same.map((r) => r.statusCode).sort(), [200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
  assert.equal(new Set(same.map((r) => r.json().id)).size, 1);
  const users = await Promise.all(
    Array.from({ length: 6 }, (_, i) => h.request({ method: 'POST', url: `/v1/users/racer-${i}/devices`, payload: { platform: 'android', token: 'contested-token' } })),
  );
  for (const r of users) assert.ok(r.statusCode === 200 || r.statusCode === 201, r.body);
  assert.equal((await h.db.pool.query(`SELECT 1 FROM devices WHERE token = 'contested-token'`)).rowCount, 1);
});
