/**
 * Threat model — user tokens (docs/security.md): a JWT is the only thing an end user's app
 * shows herald, so every claim herald acts on is checked: the token must expire, not live longer
 * than the operator allows, come from the configured issuer for the configured audience, and name
 * a user id herald can store and address.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { userToken } from './helpers/user-token.ts';
import { NO_HOOKS } from '../src/core/hooks.ts';

const harnesses: TestHarness[] = [];
async function harness(env: Record<string, string> = {}): Promise<TestHarness> {
  const h = await createHarness(env, { hooks: NO_HOOKS });
  harnesses.push(h);
  return h;
}
after(async () => {
  for (const h of harnesses) await h.close();
});

const now = () => Math.floor(Date.now() / 1000);
const register = (h: TestHarness, token: string, fcmToken = `fcm-${Math.random()}`) =>
  h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: { authorization: `Bearer ${token}` }, payload: { platform: 'android', token: fcmToken } });

function assertUnauthenticated(res: { statusCode: number; json(): { error: { code: string } } }, what: string): void {
  assert.equal(res.statusCode, 401, what);
  assert.equal(res.json().error.code, 'UNAUTHENTICATED', what);
}

test('a token without exp is refused: a stolen token must not be valid forever', async () => {
  const h = await harness();
  assertUnauthenticated(await register(h, await userToken('forever', { exp: null })), 'no exp');
  assertUnauthenticated(await register(h, await userToken('forever', { exp: null, iat: null })), 'no exp, no iat');
  assert.equal((await h.db.pool.query(`SELECT 1 FROM users WHERE id = 'forever'`)).rowCount, 0, 'no user was created');
  assert.equal((await register(h, await userToken('forever'))).statusCode, 201, 'the same user with an expiring token is let in');
});

test('a token living longer than HERALD_USER_JWT_MAX_AGE_SECONDS is refused, by exp − iat and by exp − now', async () => {
  const h = await harness({ HERALD_USER_JWT_MAX_AGE_SECONDS: '3600' });
  assertUnauthenticated(await register(h, await userToken('long', { exp: '2h' })), 'exp − iat = 2 h');
  assertUnauthenticated(await register(h, await userToken('long', { exp: now() + 7200, iat: null })), 'no iat, exp − now = 2 h');
  assertUnauthenticated(await register(h, await userToken('long', { exp: now() + 7200, iat: now() + 5400 })), 'iat in the future does not shorten the lifetime');
  assert.equal((await register(h, await userToken('long', { exp: '50m' }))).statusCode, 201, 'within the limit');

  // The default limit is a day: a year-long token is refused without any configuration.
  const d = await harness();
  assertUnauthenticated(await register(d, await userToken('year', { exp: '365d' })), 'a year by default');
  assert.equal((await register(d, await userToken('day', { exp: '23h' }))).statusCode, 201);
});

test('with HERALD_USER_JWT_ISSUER and HERALD_USER_JWT_AUDIENCE set, a token of another issuer or audience is refused', async () => {
  const h = await harness({ HERALD_USER_JWT_ISSUER: 'https://auth.example.com/', HERALD_USER_JWT_AUDIENCE: 'herald,herald-staging' });
  const good = { iss: 'https://auth.example.com/', aud: 'herald' };
  assert.equal((await register(h, await userToken('iss-ok', { claims: good }))).statusCode, 201);
  assert.equal((await register(h, await userToken('iss-ok2', { claims: { ...good, aud: ['other', 'herald-staging'] } }))).statusCode, 201);
  assertUnauthenticated(await register(h, await userToken('iss-bad', { claims: { ...good, iss: 'https://evil.example.com/' } })), 'another issuer');
  assertUnauthenticated(await register(h, await userToken('iss-bad', { claims: { aud: 'herald' } })), 'no issuer');
  assertUnauthenticated(await register(h, await userToken('iss-bad', { claims: { ...good, aud: 'billing' } })), 'another audience');
  assertUnauthenticated(await register(h, await userToken('iss-bad', { claims: { iss: good.iss } })), 'no audience');
  assert.equal((await h.db.pool.query(`SELECT 1 FROM users WHERE id = 'iss-bad'`)).rowCount, 0);
});

test('a sub that is not a valid user id (a path, a newline, 5,000 characters, a control character) is refused and creates no user', async () => {
  const h = await harness();
  for (const sub of ['../x', 'a/b', 'ada\nBcc', 'ada\r', 'tab\there', 'x'.repeat(5000), 'x'.repeat(201), '', '.', '..', 'nul\u0000', 'bell\u0007', 'del\u007f', ' ada']) {
    assertUnauthenticated(await register(h, await userToken(sub)), JSON.stringify(sub.slice(0, 20)));
  }
  assertUnauthenticated(await register(h, await userToken(undefined)), 'no sub');
  assert.equal((await h.db.pool.query(`SELECT 1 FROM users`)).rowCount, 0, 'no user row was created');
  const ok = await register(h, await userToken('x'.repeat(200)));
  assert.equal(ok.statusCode, 201, 'the longest valid id');
  assert.equal((await register(h, await userToken('ada.lovelace@example.com|σ'))).statusCode, 201, 'any other text is a user id');
});

test('gateway x-authenticated-userid is checked like a JWT sub', async () => {
  const h = await harness({ HERALD_TRUST_GATEWAY_HEADERS: 'true' });
  for (const id of ['../x', 'a/b', 'x'.repeat(201), '..', 'del\u007f']) {
    const res = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: { 'x-authenticated-userid': id }, payload: { platform: 'android', token: 'gw-token' } });
    assertUnauthenticated(res, JSON.stringify(id.slice(0, 20)));
  }
  assert.equal((await h.db.pool.query(`SELECT 1 FROM users`)).rowCount, 0);
  const ok = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: { 'x-authenticated-userid': 'gw-ok' }, payload: { platform: 'android', token: 'gw-token' } });
  assert.equal(ok.statusCode, 201, ok.body);
});

test('an app claim that is not an app id makes the token invalid', async () => {
  const h = await harness();
  for (const app of ['../default', '', 'a b', 42, ['default']]) {
    assertUnauthenticated(await register(h, await userToken('claimed', { claims: { app } })), JSON.stringify(app));
  }
  assert.equal((await register(h, await userToken('claimed', { claims: { app: 'default' } }))).statusCode, 201);
});
