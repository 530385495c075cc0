import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, generateKeyPair, exportJWK } from 'jose';
import { createHarness, TEST_JWT_SECRET, type TestHarness } from './helpers/app.ts';
import { NO_HOOKS } from '../src/core/hooks.ts';

/** The three ways in (docs/api.md § Authentication), each on a harness configured for it. */
let jwks: Server;
let jwksUrl: string;
let es256: CryptoKey;
const harnesses: TestHarness[] = [];

async function harness(env: Record<string, string> = {}): Promise<TestHarness> {
  const h = await createHarness(env, { hooks: NO_HOOKS });
  harnesses.push(h);
  return h;
}

before(async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  es256 = privateKey;
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  jwks = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
});
after(async () => {
  for (const h of harnesses) await h.close();
  await new Promise<void>((resolve) => jwks.close(() => resolve()));
});

const hs256 = (sub: string, secret = TEST_JWT_SECRET, exp = '5m') =>
  new SignJWT({ email: `${sub}@example.com` }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime(exp).sign(new TextEncoder().encode(secret));

test('API key: admin routes work, /v1/me is 403, no or wrong credentials 401', async () => {
  const h = await harness();
  assert.equal((await h.request({ method: 'PUT', url: '/v1/users/a1', payload: {} })).statusCode, 200);
  const me = await h.request({ url: '/v1/me/devices' });
  assert.equal(me.statusCode, 403);
  assert.equal(me.json().error.code, 'PERMISSION_DENIED');
  for (const authorization of [undefined, 'Bearer hk_wrong', 'Basic abc', 'Bearer']) {
    const res = await h.app.inject({ url: '/v1/users/a1', headers: authorization ? { authorization } : {} });
    assert.equal(res.statusCode, 401, String(authorization));
    assert.equal(res.json().error.code, 'UNAUTHENTICATED');
  }
});

test('HS256 user JWT: /v1/me acts for `sub`; admin routes are 403; expired or forged tokens 401', async () => {
  const h = await harness();
  const token = await hs256('jwt-user');
  const created = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: { authorization: `Bearer ${token}` }, payload: { platform: 'android', token: 'jwt-dev' } });
  assert.equal(created.statusCode, 201, created.body);
  assert.equal(created.json().userId, 'jwt-user');
  const admin = await h.app.inject({ url: '/v1/users/jwt-user/devices', headers: { authorization: `Bearer ${token}` } });
  assert.equal(admin.statusCode, 403);
  const profile = await h.app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${token}` } });
  assert.equal(profile.statusCode, 200);
  assert.equal(profile.json().id, 'jwt-user');
  for (const bad of [await hs256('jwt-user', 'another-secret-entirely-0123456789'), await hs256('jwt-user', TEST_JWT_SECRET, '-1m')]) {
    assert.equal((await h.app.inject({ url: '/v1/me/devices', headers: { authorization: `Bearer ${bad}` } })).statusCode, 401);
  }
});

test('ES256 user JWT verified through a JWKS URL', async () => {
  const h = await harness({ HERALD_USER_JWKS_URL: jwksUrl });
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('jwks-user').setExpirationTime('5m').sign(es256);
  const res = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: { authorization: `Bearer ${token}` }, payload: { date: new Date(Date.now() + 3_600_000).toISOString(), message: 'jwks' } });
  assert.equal(res.statusCode, 201, res.body);
  assert.equal(res.json().userId, 'jwks-user');
  const { privateKey: stranger } = await generateKeyPair('ES256');
  const forged = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('jwks-user').setExpirationTime('5m').sign(stranger);
  assert.equal((await h.app.inject({ url: '/v1/me/reminders', headers: { authorization: `Bearer ${forged}` } })).statusCode, 401);
});

test('gateway headers are trusted only when HERALD_TRUST_GATEWAY_HEADERS=true', async () => {
  const trusting = await harness({ HERALD_TRUST_GATEWAY_HEADERS: 'true' });
  const headers = { 'x-authenticated-userid': 'gw-user', 'x-consumer-username': 'gw@example.com' };
  const ok = await trusting.app.inject({ method: 'POST', url: '/v1/me/devices', headers, payload: { platform: 'android', token: 'gw-dev' } });
  assert.equal(ok.statusCode, 201, ok.body);
  assert.equal(ok.json().userId, 'gw-user');
  assert.equal((await trusting.app.inject({ url: '/v1/users/gw-user/devices', headers })).statusCode, 403, 'gateway users are users, not admins');

  // Seed 002's gateway passed the user's e-mail as x-consumer-username: it fills the new user's email.
  const user = await trusting.db.pool.query<{ email: string | null }>(`SELECT email FROM users WHERE id = 'gw-user'`);
  assert.equal(user.rows[0]?.email, 'gw@example.com');
  const reminder = await trusting.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: { 'x-authenticated-userid': 'gw-new', 'x-consumer-username': 'new@example.com' }, payload: { date: new Date(Date.now() + 3_600_000).toISOString(), message: 'm', notifyType: 'email' } });
  assert.equal(reminder.statusCode, 201, reminder.body);
  assert.equal((await trusting.db.pool.query<{ email: string }>(`SELECT email FROM users WHERE id = 'gw-new'`)).rows[0]?.email, 'new@example.com');

  const strict = await harness({ HERALD_TRUST_GATEWAY_HEADERS: 'false' });
  const refused = await strict.app.inject({ method: 'POST', url: '/v1/me/devices', headers, payload: { platform: 'android', token: 'gw-dev' } });
  assert.equal(refused.statusCode, 401);
  assert.equal((await strict.db.pool.query(`SELECT 1 FROM devices`)).rowCount, 0);
});
