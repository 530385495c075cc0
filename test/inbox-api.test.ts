import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { createHarness, TEST_JWT_SECRET, type TestHarness } from './helpers/app.ts';
import { loadConfig, ConfigError } from '../src/config/index.ts';
import { ASSETS_DIR } from '../src/api/routes/assets.ts';

/**
 * What browsers need from herald's inbox API: marking everything read, CORS on /v1/me/... for
 * the origins HERALD_CORS_ORIGINS allows, and the <herald-inbox> component served at /assets/.
 */
const APP_ORIGIN = 'http://app.example.test:8080';
let h: TestHarness;
let plain: TestHarness;

const tokenFor = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));

async function addItems(userId: string, titles: string[]): Promise<string[]> {
  const ids: string[] = [];
  await h.request({ method: 'PUT', url: `/v1/users/${userId}`, payload: {} });
  for (const title of titles) {
    const { rows } = await h.db.pool.query<{ id: string }>(`INSERT INTO inbox_items (id, user_id, title) VALUES (gen_random_uuid()::text, $1, $2) RETURNING id`, [userId, title]);
    ids.push(rows[0]!.id);
  }
  return ids;
}

before(async () => {
  h = await createHarness({ HERALD_CORS_ORIGINS: `${APP_ORIGIN},https://other.example.test` });
  plain = await createHarness();
});
after(async () => {
  await h.close();
  await plain.close();
});

test('POST /v1/me/inbox/read-all marks every unread item of the caller read, and only theirs', async () => {
  await addItems('reader', ['a', 'b', 'c']);
  await addItems('bystander', ['x']);
  const token = await tokenFor('reader');
  const first = await h.app.inject({ method: 'POST', url: '/v1/me/inbox/read-all', headers: { authorization: `Bearer ${token}` } });
  assert.equal(first.statusCode, 200, first.body);
  assert.deepEqual(first.json(), { marked: 3 });
  const list = await h.app.inject({ url: '/v1/me/inbox', headers: { authorization: `Bearer ${token}` } });
  assert.equal(list.json().unread, 0);
  assert.ok(list.json().items.every((i: { readAt: string | null }) => i.readAt !== null));
  const again = await h.app.inject({ method: 'POST', url: '/v1/me/inbox/read-all', headers: { authorization: `Bearer ${token}` } });
  assert.deepEqual(again.json(), { marked: 0 }, 'nothing left to mark');
  assert.equal((await h.request({ url: '/v1/users/bystander/inbox' })).json().unread, 1, "another user's items stay unread");
});

test('POST /v1/users/{userId}/inbox/read-all does the same with an API key', async () => {
  await addItems('admin-reader', ['a', 'b']);
  const res = await h.request({ method: 'POST', url: '/v1/users/admin-reader/inbox/read-all' });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json(), { marked: 2 });
});

test('read-all refuses bad credentials and bad user ids with the catalogue codes', async () => {
  const none = await h.app.inject({ method: 'POST', url: '/v1/me/inbox/read-all' });
  assert.equal(none.statusCode, 401);
  assert.equal(none.json().error.code, 'UNAUTHENTICATED');
  const key = await h.request({ method: 'POST', url: '/v1/me/inbox/read-all' });
  assert.equal(key.statusCode, 403);
  assert.equal(key.json().error.code, 'PERMISSION_DENIED');
  const user = await h.app.inject({ method: 'POST', url: '/v1/users/someone/inbox/read-all', headers: { authorization: `Bearer ${await tokenFor('someone')}` } });
  assert.equal(user.statusCode, 403);
  const long = await h.request({ method: 'POST', url: `/v1/users/${'u'.repeat(300)}/inbox/read-all` });
  assert.equal(long.statusCode, 400);
  assert.equal(long.json().error.code, 'VALIDATION_FAILED');
});

test('a preflight from an allowed origin to /v1/me/... is answered with the methods and headers the client sends', async () => {
  const res = await h.app.inject({
    method: 'OPTIONS',
    url: '/v1/me/inbox/abc/read',
    headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,idempotency-key' },
  });
  assert.equal(res.statusCode, 204, res.body);
  assert.equal(res.headers['access-control-allow-origin'], APP_ORIGIN);
  assert.match(String(res.headers['access-control-allow-methods']), /POST/);
  assert.match(String(res.headers['access-control-allow-headers']), /authorization/i);
  assert.match(String(res.headers['access-control-allow-headers']), /idempotency-key/i);
  assert.equal(res.headers['access-control-allow-credentials'], undefined, 'bearer tokens, not cookies');
});

test('user routes answer allowed origins with CORS headers, errors included; others get none', async () => {
  const token = await tokenFor('cors-user');
  const ok = await h.app.inject({ url: '/v1/me/inbox', headers: { origin: APP_ORIGIN, authorization: `Bearer ${token}` } });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.headers['access-control-allow-origin'], APP_ORIGIN);
  assert.match(String(ok.headers['access-control-expose-headers']), /retry-after/);
  assert.match(String(ok.headers.vary), /origin/i);
  const denied = await h.app.inject({ url: '/v1/me/inbox', headers: { origin: APP_ORIGIN } });
  assert.equal(denied.statusCode, 401);
  assert.equal(denied.headers['access-control-allow-origin'], APP_ORIGIN, 'the page can read the 401');
  const stranger = await h.app.inject({ url: '/v1/me/inbox', headers: { origin: 'https://evil.example.test', authorization: `Bearer ${token}` } });
  assert.equal(stranger.headers['access-control-allow-origin'], undefined);
  const preflightStranger = await h.app.inject({ method: 'OPTIONS', url: '/v1/me/inbox', headers: { origin: 'https://evil.example.test', 'access-control-request-method': 'GET' } });
  assert.equal(preflightStranger.headers['access-control-allow-origin'], undefined);
});

test('admin routes never answer cross-origin requests, and without HERALD_CORS_ORIGINS nothing does', async () => {
  const admin = await h.request({ url: '/v1/users/cors-user/inbox', headers: { origin: APP_ORIGIN } });
  assert.equal(admin.statusCode, 200);
  assert.equal(admin.headers['access-control-allow-origin'], undefined);
  const preflight = await h.app.inject({ method: 'OPTIONS', url: '/v1/users/x/inbox', headers: { origin: APP_ORIGIN, 'access-control-request-method': 'GET' } });
  assert.equal(preflight.headers['access-control-allow-origin'], undefined);
  assert.equal(preflight.statusCode, 404);
  const off = await plain.app.inject({ url: '/v1/me/inbox', headers: { origin: APP_ORIGIN, authorization: `Bearer ${await tokenFor('u')}` } });
  assert.equal(off.statusCode, 200);
  assert.equal(off.headers['access-control-allow-origin'], undefined);
});

test('the inbox stream carries the CORS headers too (its reply bypasses Fastify)', async () => {
  const address = await h.app.listen({ port: 0, host: '127.0.0.1' });
  const controller = new AbortController();
  try {
    const res = await fetch(`${address}/v1/me/inbox/stream`, { headers: { origin: APP_ORIGIN, authorization: `Bearer ${await tokenFor('streamer')}` }, signal: controller.signal });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), APP_ORIGIN);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  } finally {
    controller.abort();
  }
});

test('HERALD_CORS_ORIGINS takes `*` or origins, and names what it cannot use', () => {
  const base = { HERALD_DATA_DIR: '/tmp/unused' };
  assert.deepEqual(loadConfig({ ...base, HERALD_CORS_ORIGINS: 'https://a.example, http://localhost:8080' }).corsOrigins, ['https://a.example', 'http://localhost:8080']);
  assert.deepEqual(loadConfig({ ...base, HERALD_CORS_ORIGINS: '*' }).corsOrigins, ['*']);
  assert.deepEqual(loadConfig(base).corsOrigins, []);
  assert.throws(
    () => loadConfig({ ...base, HERALD_CORS_ORIGINS: 'https://a.example/, app.example' }),
    (err: unknown) => err instanceof ConfigError && /HERALD_CORS_ORIGINS.*https:\/\/a\.example\/, app\.example/.test(err.message),
  );
});

test('GET /assets/herald-inbox.js serves the built component to any origin, cacheable, revalidated by ETag', async () => {
  assert.ok(existsSync(path.join(ASSETS_DIR, 'herald-inbox.js')), 'the component is built (npm run build)');
  const res = await plain.app.inject({ url: '/assets/herald-inbox.js', headers: { origin: APP_ORIGIN } });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /javascript/);
  assert.match(res.body, /customElements\.define\(`herald-inbox`|customElements\.define\("herald-inbox"/);
  assert.equal(res.headers['access-control-allow-origin'], '*');
  assert.match(String(res.headers['cache-control']), /public, max-age=3600/);
  const etag = String(res.headers.etag);
  const again = await plain.app.inject({ url: '/assets/herald-inbox.js', headers: { 'if-none-match': etag } });
  assert.equal(again.statusCode, 304);
  assert.equal(again.body, '');
});

test('/assets/ serves nothing but the built files: no listing, no escape, no dotfiles', async () => {
  for (const url of ['/assets/', '/assets/nope.js', '/assets/../package.json', '/assets/%2e%2e/%2e%2e/package.json', '/assets/.tsbuildinfo']) {
    const res = await plain.app.inject({ url });
    assert.equal(res.statusCode, 404, `${url}: ${res.body}`);
    assert.equal(res.json().error.code, 'NOT_FOUND', url);
  }
});
