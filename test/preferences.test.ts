import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { asUser } from './helpers/user-token.ts';
import { BroadcastFanOut } from '../src/scheduler/fan-out.ts';

/** Notification types and preferences: per type and channel in every fan-out, required types, the preference centre. */

let h: TestHarness;
before(async () => {
  h = await createHarness();
  const types: Array<[string, object]> = [
    ['marketing', { name: 'News and offers' }],
    ['security', { name: 'Security alerts', required: true, channels: { webhook: false } }],
    ['digest', { name: 'Weekly digest', channels: { email: false } }],
  ];
  for (const [key, body] of types) assert.equal((await h.request({ method: 'PUT', url: `/v1/apps/default/notification-types/${key}`, payload: body })).statusCode, 200);
});
after(async () => {
  await h.close();
});

const patch = async (user: string, body: object) => h.app.inject({ method: 'PATCH', url: '/v1/me/preferences', headers: await asUser(user), payload: body });

async function channelsOf(id: string): Promise<Record<string, string[]>> {
  const { rows } = await h.db.pool.query(`SELECT user_id, array_agg(channel ORDER BY channel) AS ch FROM deliveries WHERE notification_id = $1 GROUP BY user_id`, [id]);
  return Object.fromEntries(rows.map((r) => [r.user_id, r.ch]));
}

test('types are declared, listed, read and deleted with their events', async () => {
  const list = (await h.request({ method: 'GET', url: '/v1/apps/default/notification-types' })).json();
  assert.deepEqual(list.items.map((t: { key: string }) => t.key), ['digest', 'marketing', 'security']);
  const sec = (await h.request({ method: 'GET', url: '/v1/apps/default/notification-types/security' })).json();
  assert.equal(sec.required, true);
  assert.deepEqual(sec.channels, { webhook: false });
  await h.request({ method: 'PUT', url: '/v1/apps/default/notification-types/temp', payload: {} });
  assert.equal((await h.request({ method: 'DELETE', url: '/v1/apps/default/notification-types/temp' })).statusCode, 204);
  assert.equal((await h.request({ method: 'GET', url: '/v1/apps/default/notification-types/temp' })).statusCode, 404);
  assert.equal((await h.request({ method: 'GET', url: '/v1/apps/other/notification-types/marketing' })).statusCode, 404);
  const { rows } = await h.db.pool.query(`SELECT type FROM events WHERE item_id = 'default/temp' ORDER BY id`);
  assert.deepEqual(rows.map((r) => r.type), ['notification-type:created', 'notification-type:deleted']);
});

test('the preference centre shows every type with its effective value and why', async () => {
  const fresh = (await h.app.inject({ method: 'GET', url: '/v1/me/preferences', headers: await asUser('pc-1') })).json();
  assert.deepEqual(fresh.channels, { push: true, email: true, inbox: true, webhook: true });
  const byKey = (v: { types: Array<{ key: string; channels: Record<string, unknown> }> }): Record<string, any> => Object.fromEntries(v.types.map((t) => [t.key, t.channels]));
  assert.deepEqual(byKey(fresh).digest.email, { enabled: false, source: 'default' });
  assert.deepEqual(byKey(fresh).security.push, { enabled: true, source: 'required' });
  assert.deepEqual(byKey(fresh).security.webhook, { enabled: false, source: 'required' });

  const changed = await patch('pc-1', { channels: { push: false }, types: { marketing: { email: false }, digest: { email: true } } });
  assert.equal(changed.statusCode, 200, changed.body);
  const v = changed.json();
  assert.equal(v.channels.push, false);
  assert.deepEqual(byKey(v).marketing.email, { enabled: false, source: 'user' });
  assert.deepEqual(byKey(v).marketing.push, { enabled: false, source: 'user' });
  assert.deepEqual(byKey(v).marketing.inbox, { enabled: true, source: 'default' });
  assert.deepEqual(byKey(v).digest.email, { enabled: true, source: 'user' });
  assert.deepEqual(byKey(v).security.push, { enabled: true, source: 'required' });

  const reset = (await patch('pc-1', { types: { marketing: { email: null } } })).json();
  assert.deepEqual(byKey(reset).marketing.email, { enabled: true, source: 'default' });

  // The operator's view of the same user, and the event in the user's history.
  const admin = (await h.request({ method: 'GET', url: '/v1/users/pc-1/preferences' })).json();
  assert.deepEqual(admin, reset);
  const events = (await h.request({ method: 'GET', url: '/v1/users/pc-1/events' })).json();
  assert.equal(events.items.filter((e: { type: string }) => e.type === 'preferences:updated').length, 2);
});

test('refused changes (a required type, an unknown type, bad input) answer 4xx and change nothing', async () => {
  await patch('pc-2', { types: { marketing: { push: false } } });
  const before = (await h.db.pool.query(`SELECT (SELECT count(*) FROM user_type_preferences) p, (SELECT count(*) FROM events) e, (SELECT preferences::text FROM users WHERE id = 'pc-2') u`)).rows[0];
  const cases: Array<[object, number, string]> = [
    [{ types: { security: { email: false } } }, 422, 'TYPE_REQUIRED'],
    [{ channels: { email: false }, types: { marketing: { email: false }, security: { push: false } } }, 422, 'TYPE_REQUIRED'],
    [{ types: { nope: { email: false } } }, 422, 'UNKNOWN_TYPE'],
    [{ types: { marketing: { sms: false } } }, 400, 'VALIDATION_FAILED'],
    [{ channels: { email: 'no' } }, 400, 'VALIDATION_FAILED'],
    [{ types: { 'bad key': { email: false } } }, 422, 'UNKNOWN_TYPE'],
  ];
  for (const [body, status, code] of cases) {
    const res = await patch('pc-2', body);
    assert.equal(res.statusCode, status, res.body);
    assert.equal(res.json().error.code, code, res.body);
  }
  assert.equal((await h.request({ method: 'GET', url: '/v1/users/nobody-here/preferences' })).statusCode, 404);
  assert.equal((await h.request({ method: 'PATCH', url: '/v1/users/nobody-here/preferences', payload: { channels: { email: false } } })).statusCode, 404);
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'pc-2' }, type: 'unknown-type', title: 'x' } });
  assert.equal(res.statusCode, 422);
  assert.equal(res.json().error.code, 'UNKNOWN_TYPE');
  const after = (await h.db.pool.query(`SELECT (SELECT count(*) FROM user_type_preferences) p, (SELECT count(*) FROM events) e, (SELECT preferences::text FROM users WHERE id = 'pc-2') u`)).rows[0];
  assert.deepEqual(after, before);
});

test('fan-out honours per-type, per-channel choices; required types ignore opt-outs', async () => {
  await patch('f-b', { types: { marketing: { email: false } } });
  await patch('f-c', { channels: { email: false } });
  await patch('f-d', { types: { digest: { email: true } } });
  await patch('f-a', {});
  const send = async (body: object) => {
    const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userIds: ['f-a', 'f-b', 'f-c', 'f-d'] }, title: 't', channels: ['email', 'inbox'], ...body } });
    assert.equal(res.statusCode, 202, res.body);
    return channelsOf(res.json().id);
  };
  assert.deepEqual(await send({ type: 'marketing' }), { 'f-a': ['email', 'inbox'], 'f-b': ['inbox'], 'f-c': ['inbox'], 'f-d': ['email', 'inbox'] });
  assert.deepEqual(await send({ type: 'security' }), { 'f-a': ['email', 'inbox'], 'f-b': ['email', 'inbox'], 'f-c': ['email', 'inbox'], 'f-d': ['email', 'inbox'] });
  assert.deepEqual(await send({ type: 'digest' }), { 'f-a': ['inbox'], 'f-b': ['inbox'], 'f-c': ['inbox'], 'f-d': ['email', 'inbox'] });
  assert.deepEqual(await send({}), { 'f-a': ['email', 'inbox'], 'f-b': ['email', 'inbox'], 'f-c': ['inbox'], 'f-d': ['email', 'inbox'] });

  // A required type with a channel its defaults leave off: off for everyone.
  const webhook = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'f-a' }, title: 't', channels: ['webhook', 'inbox'], type: 'security' } });
  assert.deepEqual(await channelsOf(webhook.json().id), { 'f-a': ['inbox'] });
  // Without channels, a type that names channels it sends on decides them.
  await h.request({ method: 'PUT', url: '/v1/apps/default/notification-types/receipts', payload: { required: true, channels: { email: true, push: false } } });
  const receipt = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'f-c' }, title: 't', type: 'receipts' } });
  assert.deepEqual(await channelsOf(receipt.json().id), { 'f-c': ['email'] });

  // The same decisions in a broadcast's chunks.
  await h.request({ method: 'PUT', url: '/v1/topics/prefs-topic', payload: {} });
  await h.request({ method: 'POST', url: '/v1/topics/prefs-topic/subscribers', payload: { userIds: ['f-a', 'f-b', 'f-c', 'f-d'] } });
  const b = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { topic: 'prefs-topic' }, title: 't', channels: ['email', 'inbox'], type: 'marketing' } });
  const fanOut = new BroadcastFanOut(h.db.pool, h.ctx.log, { chunkSize: 2 });
  while ((await fanOut.step()).kind === 'chunk');
  assert.deepEqual(await channelsOf(b.json().id), { 'f-a': ['email', 'inbox'], 'f-b': ['inbox'], 'f-c': ['inbox'], 'f-d': ['email', 'inbox'] });
});
