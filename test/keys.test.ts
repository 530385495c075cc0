import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { keySpec } from '../src/cli/main.ts';

/** Scoped API keys (docs/security.md § Scoped keys): scopes, app limits, expiry, no escalation. */
let h: TestHarness;
before(async () => {
  h = await createHarness();
});
after(async () => h.close());

const as = (key: string) => ({ authorization: `Bearer ${key}` });

async function newKey(body: Record<string, unknown>, parent = h.apiKey): Promise<{ id: string; key: string }> {
  const res = await h.app.inject({ method: 'POST', url: '/v1/keys', headers: as(parent), payload: { name: 'k', ...body } });
  assert.equal(res.statusCode, 201, res.body);
  return res.json();
}

test('keys made before scopes existed are admin keys: they reach every route and create keys', async () => {
  assert.equal((await h.request({ method: 'PUT', url: '/v1/users/old-key-user', payload: {} })).statusCode, 200);
  assert.equal((await h.request({ method: 'GET', url: '/v1/audit' })).statusCode, 200);
  const list = await h.request({ method: 'GET', url: '/v1/keys' });
  assert.equal(list.statusCode, 200);
  const mine = list.json().items.find((k: { name: string }) => k.name === 'test');
  assert.deepEqual(mine.scopes, ['admin']);
  assert.equal(mine.appIds, null);
  assert.ok(!JSON.stringify(list.json()).includes(h.apiKey), 'a list never shows a secret');
});

test('a key with notifications:write can send but not read users, read notifications or change apps; 403 FORBIDDEN names the scope', async () => {
  const { key } = await newKey({ scopes: ['notifications:write'] });
  await h.request({ method: 'PUT', url: '/v1/users/scoped-target', payload: {} });
  const sent = await h.app.inject({ method: 'POST', url: '/v1/notifications', headers: as(key), payload: { to: { userId: 'scoped-target' }, channels: ['inbox'], title: 'hi' } });
  assert.equal(sent.statusCode, 202, sent.body);
  const cases: [string, string, string, unknown?][] = [
    ['GET', '/v1/users/scoped-target', 'users:read'],
    ['PUT', '/v1/users/scoped-target', 'users:write', {}],
    ['GET', `/v1/notifications/${sent.json().id}`, 'notifications:read'],
    ['PUT', '/v1/apps/scoped-app', 'apps:write', { name: 'x' }],
    ['GET', '/v1/users/scoped-target/events', 'events:read'],
    ['GET', '/v1/keys', 'keys:read'],
    ['GET', '/v1/audit', 'admin'],
  ];
  for (const [method, url, scope, payload] of cases) {
    const res = await h.app.inject({ method: method as 'GET', url, headers: as(key), ...(payload ? { payload } : {}) });
    assert.equal(res.statusCode, 403, `${method} ${url}: ${res.body}`);
    assert.equal(res.json().error.code, 'FORBIDDEN');
    assert.equal(res.json().error.details[0].scope, scope, `${method} ${url}`);
  }
});

test("an app-limited key sees its app's users and apps; another app's are 404, and a body without appId is its app", async () => {
  await h.request({ method: 'PUT', url: '/v1/apps/shop', payload: { name: 'Shop' } });
  await h.request({ method: 'PUT', url: '/v1/apps/blog', payload: { name: 'Blog' } });
  const shop = await newKey({ scopes: ['users:read', 'users:write', 'apps:read', 'notifications:write', 'notifications:read'], appIds: ['shop'] });
  const blog = await newKey({ scopes: ['users:write', 'users:read'], appIds: ['blog'] });
  assert.equal((await h.app.inject({ method: 'PUT', url: '/v1/users/shopper', headers: as(shop.key), payload: {} })).statusCode, 200);
  assert.equal((await h.app.inject({ method: 'PUT', url: '/v1/users/blogger', headers: as(blog.key), payload: {} })).statusCode, 200);

  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/users/shopper', headers: as(shop.key) })).statusCode, 200);
  const hidden = await h.app.inject({ method: 'GET', url: '/v1/users/blogger', headers: as(shop.key) });
  assert.equal(hidden.statusCode, 404, hidden.body);
  assert.equal(hidden.json().error.code, 'NOT_FOUND');
  assert.equal((await h.app.inject({ method: 'PUT', url: '/v1/users/blogger', headers: as(shop.key), payload: { name: 'taken over' } })).statusCode, 404);
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/users/blogger/devices', headers: as(shop.key) })).statusCode, 404);
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/apps/shop', headers: as(shop.key) })).statusCode, 200);
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/apps/blog', headers: as(shop.key) })).statusCode, 404);
  assert.equal((await h.request({ method: 'GET', url: '/v1/users/blogger' })).json().name, null, 'the refused PUT changed nothing');

  // Sending: naming another app is 404; naming none sends in the key's app.
  const other = await h.app.inject({ method: 'POST', url: '/v1/notifications', headers: as(shop.key), payload: { to: { userId: 'shopper' }, appId: 'blog', channels: ['inbox'], title: 'x' } });
  assert.equal(other.statusCode, 404, other.body);
  const own = await h.app.inject({ method: 'POST', url: '/v1/notifications', headers: as(shop.key), payload: { to: { userId: 'shopper' }, channels: ['inbox'], title: 'x' } });
  assert.equal(own.statusCode, 202, own.body);
  const { rows } = await h.db.pool.query<{ app_id: string }>(`SELECT app_id FROM notifications WHERE id = $1`, [own.json().id]);
  assert.equal(rows[0]!.app_id, 'shop');
  const adminSent = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'blogger' }, appId: 'blog', channels: ['inbox'], title: 'y' } });
  assert.equal((await h.app.inject({ method: 'GET', url: `/v1/notifications/${adminSent.json().id}`, headers: as(shop.key) })).statusCode, 404);
  assert.equal((await h.app.inject({ method: 'GET', url: `/v1/notifications/${own.json().id}`, headers: as(shop.key) })).statusCode, 200);
});

test("an app-limited key reaches no other app through queries, lists or deployment-wide routes", async () => {
  await h.request({ method: 'PUT', url: '/v1/apps/shop', payload: { name: 'Shop' } });
  await h.request({ method: 'PUT', url: '/v1/apps/blog', payload: { name: 'Blog' } });
  const shop = await newKey({ scopes: ['admin'], appIds: ['shop'] });
  const get = (url: string) => h.app.inject({ method: 'GET', url, headers: as(shop.key) });
  // The same topic key in the default app and in the key's app.
  for (const appId of ['default', 'shop']) {
    assert.equal((await h.request({ method: 'PUT', url: `/v1/topics/twin?appId=${appId}`, payload: { name: `twin of ${appId}`, appId } })).statusCode, 200);
  }
  assert.equal((await h.request({ method: 'PUT', url: '/v1/users/lim-default-fan', payload: {} })).statusCode, 200);
  assert.equal((await h.request({ method: 'POST', url: '/v1/topics/twin/subscribers?appId=default', payload: { userIds: ['lim-default-fan'], appId: 'default' } })).statusCode, 200);

  // No appId in the query: the key's app, not `default`; another app named: 404.
  const read = await get('/v1/topics/twin');
  assert.equal(read.statusCode, 200, read.body);
  assert.equal(read.json().appId, 'shop');
  assert.equal((await get('/v1/topics/twin?appId=default')).statusCode, 404);
  assert.equal((await get('/v1/topics/twin/subscribers?appId=default')).statusCode, 404);
  assert.deepEqual((await get('/v1/topics/twin/subscribers')).json().items, [], "the key's own twin has no subscribers");
  const listed = (await get('/v1/topics?limit=100')).json().items as { appId: string }[];
  assert.ok(listed.length > 0 && listed.every((t) => t.appId === 'shop'), JSON.stringify(listed));
  assert.equal((await h.app.inject({ method: 'DELETE', url: '/v1/topics/twin?appId=default', headers: as(shop.key) })).statusCode, 404);
  assert.equal((await h.app.inject({ method: 'DELETE', url: '/v1/topics/twin', headers: as(shop.key) })).statusCode, 204);
  assert.equal((await h.request({ method: 'GET', url: '/v1/topics/twin?appId=default' })).statusCode, 200, "the default app's topic is untouched");

  // Lists that span apps show only the key's: apps, users, dead letters.
  assert.deepEqual(((await get('/v1/apps')).json().items as { id: string }[]).map((a) => a.id), ['shop']);
  assert.equal((await h.app.inject({ method: 'PUT', url: '/v1/users/lim-shopper', headers: as(shop.key), payload: {} })).statusCode, 200);
  const users = ((await get('/v1/users?query=lim-&limit=100')).json().items as { id: string }[]).map((u) => u.id);
  assert.deepEqual(users, ['lim-shopper']);
  assert.equal((await get('/v1/dead-letters?appId=default')).statusCode, 404);
  assert.equal((await get('/v1/dead-letters')).statusCode, 200);

  // A dead letter of another app is not re-driven by this key (skipped, as if not failed).
  const { rows: made } = await h.db.pool.query<{ id: string }>(
    `WITH n AS (INSERT INTO notifications (id, app_id, user_ids, channels, payload, send_at) VALUES ('lim-n1', 'default', '{lim-default-fan}', '{webhook}', '{"title":"x"}', now()) RETURNING id)
     INSERT INTO deliveries (notification_id, user_id, app_id, channel, provider, status, due_at, run_at, last_error)
     SELECT id, 'lim-default-fan', 'default', 'webhook', 'webhook', 'failed', now(), now(), 'refused' FROM n RETURNING id::text`,
  );
  const redriven = await h.app.inject({ method: 'POST', url: '/v1/dead-letters/redrive', headers: as(shop.key), payload: { ids: [made[0]!.id] } });
  assert.equal(redriven.statusCode, 202, redriven.body);
  assert.deepEqual(redriven.json(), { redriven: 0, ids: [] });
  const { rows: still } = await h.db.pool.query(`SELECT status FROM deliveries WHERE id = $1`, [made[0]!.id]);
  assert.equal(still[0].status, 'failed');

  // Routes about the whole deployment are refused to it.
  for (const url of ['/v1/stats/deliveries', '/v1/audit']) {
    const res = await get(url);
    assert.equal(res.statusCode, 403, `${url}: ${res.body}`);
    assert.equal(res.json().error.code, 'FORBIDDEN');
  }
  assert.equal((await h.request({ method: 'GET', url: '/v1/stats/deliveries' })).statusCode, 200, 'an every-app key still reads them');
});

test('a key cannot grant more than it has: scopes, apps or a longer life are 403 FORBIDDEN; bad input is 4xx', async () => {
  const soon = new Date(Date.now() + 3_600_000).toISOString();
  const parent = await newKey({ scopes: ['keys:write', 'keys:read', 'notifications:write'], appIds: ['shop'], expiresAt: soon });
  const refused: [Record<string, unknown>, string][] = [
    [{ scopes: ['users:read'] }, 'body.scopes'],
    [{ scopes: ['admin'] }, 'body.scopes'],
    [{ scopes: ['notifications:write'], appIds: ['shop', 'blog'] }, 'body.appIds'],
    [{ scopes: ['notifications:write'] }, 'body.appIds'],
    [{ scopes: ['notifications:write'], appIds: ['shop'], expiresAt: new Date(Date.now() + 7_200_000).toISOString() }, 'body.expiresAt'],
    [{ scopes: ['notifications:write'], appIds: ['shop'] }, 'body.expiresAt'],
  ];
  for (const [body, field] of refused) {
    const res = await h.app.inject({ method: 'POST', url: '/v1/keys', headers: as(parent.key), payload: { name: 'child', ...body } });
    assert.equal(res.statusCode, 403, `${JSON.stringify(body)}: ${res.body}`);
    assert.equal(res.json().error.code, 'FORBIDDEN');
    assert.ok(res.json().error.details.some((d: { field: string }) => d.field === field), `${JSON.stringify(body)}: ${res.body}`);
  }
  const child = await h.app.inject({ method: 'POST', url: '/v1/keys', headers: as(parent.key), payload: { name: 'child', scopes: ['notifications:write'], appIds: ['shop'], expiresAt: soon } });
  assert.equal(child.statusCode, 201, child.body);
  assert.equal(child.json().createdBy, parent.id);

  const bad: [Record<string, unknown>, number, string][] = [
    [{ name: 'x', scopes: ['notifications:fly'] }, 400, 'VALIDATION_FAILED'],
    [{ name: 'x', scopes: [] }, 400, 'VALIDATION_FAILED'],
    [{ name: 'x' }, 400, 'VALIDATION_FAILED'],
    [{ name: 'x', scopes: ['admin'], expiresAt: 'tomorrow' }, 400, 'VALIDATION_FAILED'],
    [{ name: 'x', scopes: ['admin'], expiresAt: '2001-01-01T00:00:00Z' }, 422, 'UNPROCESSABLE'],
    [{ name: 'x', scopes: ['admin'], appIds: ['no/such'] }, 400, 'VALIDATION_FAILED'],
    [{ name: 'x', scopes: ['admin'], extra: 1 }, 400, 'VALIDATION_FAILED'],
  ];
  for (const [payload, status, code] of bad) {
    const res = await h.request({ method: 'POST', url: '/v1/keys', payload });
    assert.equal(res.statusCode, status, `${JSON.stringify(payload)}: ${res.body}`);
    assert.equal(res.json().error.code, code);
  }
});

test('an expired key is refused; a revoked key is refused at once; revoking a key it could not have made is 404', async () => {
  const { id, key } = await newKey({ scopes: ['users:read'] });
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/users/old-key-user', headers: as(key) })).statusCode, 200);
  const limited = await newKey({ scopes: ['keys:write', 'users:read'], appIds: ['shop'] });
  assert.equal((await h.app.inject({ method: 'DELETE', url: `/v1/keys/${id}`, headers: as(limited.key) })).statusCode, 404, 'an every-app key is beyond an app-limited one');
  assert.equal((await h.request({ method: 'DELETE', url: `/v1/keys/${id}` })).statusCode, 204);
  const after = await h.app.inject({ method: 'GET', url: '/v1/users/old-key-user', headers: as(key) });
  assert.equal(after.statusCode, 401, 'refused on the very next request, though it was cached');
  assert.equal((await h.request({ method: 'DELETE', url: `/v1/keys/${id}` })).statusCode, 404);

  const short = await newKey({ scopes: ['users:read'], expiresAt: new Date(Date.now() + 1500).toISOString() });
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/users/old-key-user', headers: as(short.key) })).statusCode, 200);
  await new Promise((r) => setTimeout(r, 1700));
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/users/old-key-user', headers: as(short.key) })).statusCode, 401, 'expired while cached');
});

test('the audit trail lists key changes with the acting key, never a secret', async () => {
  const made = await newKey({ scopes: ['users:read'] });
  await h.request({ method: 'DELETE', url: `/v1/keys/${made.id}` });
  const res = await h.request({ method: 'GET', url: '/v1/audit?itemType=key&limit=500' });
  assert.equal(res.statusCode, 200);
  const mine = res.json().items.filter((e: { itemId: string }) => e.itemId === made.id);
  assert.deepEqual(mine.map((e: { type: string }) => e.type), ['key:created', 'key:revoked']);
  const adminId = (await h.request({ method: 'GET', url: '/v1/keys' })).json().items.find((k: { name: string }) => k.name === 'test').id;
  for (const e of mine) assert.equal(e.actor, `key:${adminId}`);
  assert.ok(!res.body.includes(made.key));
});

test('`herald keys create` options: scopes, apps, expiry; unknown scopes and past times are refused', () => {
  const now = new Date('2027-01-01T00:00:00Z');
  assert.deepEqual(keySpec({ name: 'ci', scopes: 'notifications:write,users:read', app: ['shop,blog'], expires: '30d' }, now), {
    name: 'ci',
    scopes: ['notifications:write', 'users:read'],
    appIds: ['shop', 'blog'],
    expiresAt: new Date('2027-01-31T00:00:00Z'),
  });
  assert.deepEqual(keySpec({}, now), { name: 'cli', scopes: ['admin'], appIds: null, expiresAt: null });
  assert.match(keySpec({ scopes: 'everything' }, now) as string, /unknown scope everything/);
  assert.match(keySpec({ expires: '2020-01-01T00:00:00Z' }, now) as string, /in the past/);
  assert.match(keySpec({ expires: 'soon' }, now) as string, /neither a time/);
  assert.match(keySpec({ app: ['a b'] }, now) as string, /not an app id/);
});
