/**
 * Threat model — end users reaching across boundaries (docs/security.md): a user token speaks
 * for one user of one app. It cannot act through another app's credentials, take over another
 * user's device, or learn who else received a notification.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { asUser } from './helpers/user-token.ts';
import { NO_HOOKS } from '../src/core/hooks.ts';

let h: TestHarness;
before(async () => {
  h = await createHarness({}, { hooks: NO_HOOKS });
  for (const appId of ['second', 'third']) {
    const res = await h.request({ method: 'PUT', url: `/v1/apps/${appId}`, payload: { name: appId, webhook: { url: `https://${appId}.example.com/hook`, secret: `${appId}-secret` } } });
    assert.equal(res.statusCode, 200, res.body);
  }
});
after(async () => {
  await h.close();
});

const inHours = (n: number) => new Date(Date.now() + n * 3_600_000).toISOString();
const count = async (sql: string, params: unknown[] = []) => (await h.db.pool.query(sql, params)).rowCount ?? 0;
const WEB_KEYS = { p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM', auth: 'tBHItJI5svbpez7KI4CCXg' };
const OTHER_KEYS = { p256dh: 'BOtherKeyBOtherKeyBOtherKeyBOtherKeyBOtherKeyBOtherKeyBOtherKeyBOtherKeyBOtherKeyBOtherKe', auth: 'attackerAuthSecret_0000' };

test('a user token is bound to its app: naming another appId through /v1/me is 403 and stores nothing', async () => {
  const second = await asUser('bound', { claims: { app: 'second' } });
  const dev = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: second, payload: { platform: 'android', token: 'bound-1', appId: 'third' } });
  assert.equal(dev.statusCode, 403, dev.body);
  assert.equal(dev.json().error.code, 'PERMISSION_DENIED');
  assert.deepEqual(dev.json().error.details, [{ field: 'body.appId', message: 'this token may only use app "second"' }]);
  const rem = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: second, payload: { date: inHours(2), message: 'signed by third', channels: ['webhook'], appId: 'third' } });
  assert.equal(rem.statusCode, 403, rem.body);
  assert.equal(rem.json().error.code, 'PERMISSION_DENIED');
  assert.equal(await count(`SELECT 1 FROM devices WHERE user_id = 'bound'`), 0);
  assert.equal(await count(`SELECT 1 FROM reminders WHERE user_id = 'bound'`), 0);

  // Its own app, named or not: what is created belongs to the token's app.
  const own = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: second, payload: { platform: 'android', token: 'bound-2' } });
  assert.equal(own.statusCode, 201, own.body);
  assert.equal(own.json().appId, 'second');
  const ownReminder = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: second, payload: { date: inHours(2), message: 'mine', appId: 'second' } });
  assert.equal(ownReminder.statusCode, 201, ownReminder.body);
  assert.equal(ownReminder.json().appId, 'second');
});

test("an Idempotency-Key reused with another app's token does not replay the first app's answer", async () => {
  const payload = { date: inHours(2), message: 'same body' };
  const headers = { 'idempotency-key': 'shared-key-1' };
  const first = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: { ...headers, ...(await asUser('twice', { claims: { app: 'second' } })) }, payload });
  assert.equal(first.statusCode, 201, first.body);
  const other = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: { ...headers, ...(await asUser('twice', { claims: { app: 'third' } })) }, payload });
  assert.equal(other.statusCode, 201, other.body);
  assert.equal(other.headers['idempotent-replayed'], undefined);
  assert.notEqual(other.json().id, first.json().id);
  assert.deepEqual([first.json().appId, other.json().appId], ['second', 'third']);
});

test('a token without an app claim speaks for the default app only', async () => {
  const plain = await asUser('unclaimed');
  for (const appId of ['second', 'third']) {
    const res = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: plain, payload: { date: inHours(2), message: 'x', appId } });
    assert.equal(res.statusCode, 403, `${appId}: ${res.body}`);
  }
  const ok = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: plain, payload: { date: inHours(2), message: 'x', appId: 'default' } });
  assert.equal(ok.statusCode, 201, ok.body);
});

test("a user cannot rewrite a reminder another app sends, so no text of theirs goes out under that app's webhook signature", async () => {
  // The application's server scheduled a reminder for the user through app "third".
  const created = await h.request({ method: 'POST', url: '/v1/users/writer/reminders', payload: { date: inHours(3), message: 'from the server', channels: ['webhook'], appId: 'third' } });
  assert.equal(created.statusCode, 201, created.body);
  const id = created.json().id as string;
  const second = await asUser('writer', { claims: { app: 'second' } });
  for (const method of ['PATCH', 'POST'] as const) {
    const res = await h.app.inject({ method, url: `/v1/me/reminders/${id}`, headers: second, payload: { message: 'click https://evil.example' } });
    assert.equal(res.statusCode, 403, `${method}: ${res.body}`);
    assert.equal(res.json().error.code, 'PERMISSION_DENIED');
  }
  const moved = await h.app.inject({ method: 'PATCH', url: `/v1/me/reminders/${id}`, headers: second, payload: { appId: 'second' } });
  assert.equal(moved.statusCode, 403, 'nor take it over into its own app');
  assert.equal((await h.request({ url: `/v1/users/writer/reminders/${id}` })).json().message, 'from the server');
  // Reading it and the user's own app's reminders stays possible.
  assert.equal((await h.app.inject({ url: `/v1/me/reminders/${id}`, headers: second })).statusCode, 200);
});

test("registering another user's APNs or FCM token through /v1/me is 409 DEVICE_TAKEN; the device stays with its owner and the owner is not named", async () => {
  const apns = 'c0ffee'.repeat(11);
  const victims = [
    { platform: 'ios', token: apns },
    { platform: 'android', token: 'victim-fcm-token' },
  ];
  for (const body of victims) {
    const owned = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: await asUser('victim'), payload: body });
    assert.equal(owned.statusCode, 201, owned.body);
    const stolen = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: await asUser('attacker'), payload: { ...body, name: 'mine now' } });
    assert.equal(stolen.statusCode, 409, stolen.body);
    assert.equal(stolen.json().error.code, 'DEVICE_TAKEN');
    assert.ok(!stolen.body.includes('victim'), 'the answer does not name the owner');
    assert.ok(!stolen.body.includes(owned.json().id), 'nor the device');
    const row = await h.db.pool.query<{ user_id: string; name: string | null }>(`SELECT user_id, name FROM devices WHERE id = $1`, [owned.json().id]);
    assert.deepEqual(row.rows[0], { user_id: 'victim', name: null });
  }
  assert.equal(await count(`SELECT 1 FROM events WHERE user_id = 'victim' AND type = 'device:removed'`), 0);
  assert.equal(await count(`SELECT 1 FROM devices WHERE user_id = 'attacker'`), 0);
});

test("another user's Web Push subscription keeps its keys; only the same browser (the same keys) may move it", async () => {
  const endpoint = 'https://push.example.com/send/victim-browser';
  const owned = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: await asUser('web-victim'), payload: { platform: 'web', subscription: { endpoint, keys: WEB_KEYS } } });
  assert.equal(owned.statusCode, 201, owned.body);
  const hijack = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: await asUser('web-attacker'), payload: { platform: 'web', subscription: { endpoint, keys: OTHER_KEYS } } });
  assert.equal(hijack.statusCode, 409, hijack.body);
  assert.equal(hijack.json().error.code, 'DEVICE_TAKEN');
  const row = await h.db.pool.query<{ user_id: string; subscription: { keys: unknown } }>(`SELECT user_id, subscription FROM devices WHERE id = $1`, [owned.json().id]);
  assert.equal(row.rows[0]!.user_id, 'web-victim');
  assert.deepEqual(row.rows[0]!.subscription.keys, WEB_KEYS, 'the keys were not replaced');

  // Another person signs in on the same browser: its PushSubscription (endpoint and keys) is the proof.
  const handover = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: await asUser('web-next'), payload: { platform: 'web', subscription: { endpoint, keys: WEB_KEYS } } });
  assert.equal(handover.statusCode, 201, handover.body);
  assert.equal(handover.json().id, owned.json().id);
  assert.equal(handover.json().userId, 'web-next');
});

test("the application's server still moves a device between users with the admin API", async () => {
  const mine = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: await asUser('seller'), payload: { platform: 'android', token: 'resold-phone' } });
  assert.equal(mine.statusCode, 201);
  const moved = await h.request({ method: 'POST', url: '/v1/users/buyer/devices', payload: { platform: 'android', token: 'resold-phone' } });
  assert.equal(moved.statusCode, 201, moved.body);
  assert.equal(moved.json().id, mine.json().id);
  assert.equal(moved.json().userId, 'buyer');
  // The owner may always re-register its own device.
  const again = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: await asUser('buyer'), payload: { platform: 'android', token: 'resold-phone', name: 'renamed' } });
  assert.equal(again.statusCode, 200, again.body);
});

test('a notification seen through /v1/me names only the caller as recipient, never the other recipients', async () => {
  const userIds = Array.from({ length: 50 }, (_, i) => `crowd-${i}`);
  const created = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userIds }, title: 'to everyone', channels: ['inbox'] } });
  assert.equal(created.statusCode, 202, created.body);
  const id = created.json().id as string;
  const me = await asUser('crowd-7');
  const list = await h.app.inject({ url: '/v1/me/notifications', headers: me });
  assert.equal(list.statusCode, 200);
  assert.deepEqual(list.json().items[0].userIds, ['crowd-7']);
  const one = await h.app.inject({ url: `/v1/me/notifications/${id}`, headers: me });
  assert.equal(one.statusCode, 200);
  assert.deepEqual(one.json().userIds, ['crowd-7']);
  for (const d of one.json().deliveries as Array<{ userId?: string }>) assert.equal(d.userId, 'crowd-7');
  assert.ok(!one.body.includes('crowd-8') && !list.body.includes('crowd-8'));
  // The application's server sees the whole audience.
  assert.equal((await h.request({ url: `/v1/notifications/${id}` })).json().userIds.length, 50);
});
