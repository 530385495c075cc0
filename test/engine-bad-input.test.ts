import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { createHarness, TEST_JWT_SECRET, type TestHarness } from './helpers/app.ts';

let h: TestHarness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h.close();
});

async function count(table: string): Promise<number> {
  const { rows } = await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return rows[0]!.n;
}

async function userToken(sub: string): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));
}

const cases: Array<[string, Record<string, unknown> | string, number, string]> = [
  ['malformed JSON', '{"to": {"userId": "u1"', 400, 'VALIDATION_FAILED'],
  ['missing to', { title: 'x' }, 400, 'VALIDATION_FAILED'],
  ['unknown field', { to: { userId: 'u1' }, titel: 'x' }, 400, 'VALIDATION_FAILED'],
  ['wrong type', { to: { userId: 'u1' }, ttlSeconds: 'ten' }, 400, 'VALIDATION_FAILED'],
  ['unknown channel', { to: { userId: 'u1' }, channels: ['pigeon'] }, 400, 'VALIDATION_FAILED'],
  ['empty userIds', { to: { userIds: [] } }, 400, 'VALIDATION_FAILED'],
  ['bad sendAt', { to: { userId: 'u1' }, sendAt: 'tomorrow' }, 400, 'VALIDATION_FAILED'],
  ['negative TTL', { to: { userId: 'u1' }, ttlSeconds: -1 }, 400, 'VALIDATION_FAILED'],
  ['non-hex APNs token', { to: { device: { platform: 'ios', token: 'not-hex' } } }, 400, 'VALIDATION_FAILED'],
  ['web device without subscription', { to: { device: { platform: 'web', token: 'x' } } }, 400, 'VALIDATION_FAILED'],
  ['raw device with e-mail channel', { to: { device: { platform: 'android', token: 't' } }, channels: ['email'] }, 422, 'UNPROCESSABLE'],
  ['two addressings', { to: { userId: 'u1', userIds: ['u2'] } }, 400, 'VALIDATION_FAILED'],
];

for (const [name, payload, status, code] of cases) {
  test(`POST /v1/notifications with ${name} → ${status} ${code}, nothing written`, async () => {
    const before = [await count('notifications'), await count('deliveries'), await count('events')];
    const res = await h.request({
      method: 'POST',
      url: '/v1/notifications',
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.statusCode, status, res.body);
    assert.equal(res.json().error.code, code);
    assert.doesNotMatch(res.body, /at .*\.ts:\d+/, 'no stack trace');
    assert.deepEqual([await count('notifications'), await count('deliveries'), await count('events')], before);
  });
}

test('a huge body is 413 PAYLOAD_TOO_LARGE', async () => {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'u1' }, body: 'x'.repeat(2_000_000) } });
  assert.equal(res.statusCode, 413);
  assert.equal(res.json().error.code, 'PAYLOAD_TOO_LARGE');
});

test('a non-JSON content type is 415', async () => {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: 'to=u1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(res.statusCode, 415);
});

test('no credentials → 401; a user token on the admin endpoint → 403', async () => {
  const anon = await h.app.inject({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'u1' } } });
  assert.equal(anon.statusCode, 401);
  assert.equal(anon.json().error.code, 'UNAUTHENTICATED');
  const asUser = await h.app.inject({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'u1' } }, headers: { authorization: `Bearer ${await userToken('u1')}` } });
  assert.equal(asUser.statusCode, 403);
});

test('unknown notification ids answer 404 on GET, DELETE and retry', async () => {
  for (const [method, url] of [['GET', '/v1/notifications/nope'], ['DELETE', '/v1/notifications/nope'], ['POST', '/v1/notifications/nope/retry']] as const) {
    const res = await h.request({ method, url });
    assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`);
    assert.equal(res.json().error.code, 'NOT_FOUND');
  }
  const long = await h.request({ url: `/v1/notifications/${'x'.repeat(500)}` });
  assert.equal(long.statusCode, 400);
});

test('another user’s notification and inbox item through /v1/me → 404', async () => {
  const created = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'alice' }, title: 'private', channels: ['inbox'] } });
  assert.equal(created.statusCode, 202);
  const id = created.json().id as string;
  const bob = { authorization: `Bearer ${await userToken('bob')}` };
  const alice = { authorization: `Bearer ${await userToken('alice')}` };
  assert.equal((await h.app.inject({ url: `/v1/me/notifications/${id}`, headers: bob })).statusCode, 404);
  assert.equal((await h.app.inject({ url: `/v1/me/notifications/${id}`, headers: alice })).statusCode, 200);
  assert.equal((await h.app.inject({ method: 'POST', url: '/v1/me/inbox/some-item/read', headers: bob })).statusCode, 404);
  const list = await h.app.inject({ url: '/v1/me/notifications', headers: bob });
  assert.equal(list.statusCode, 200);
  assert.equal(list.json().total, 0);
});

test('bad paging parameters are 400, not 500', async () => {
  for (const q of ['limit=0', 'limit=abc', 'offset=-1', 'limit=100000']) {
    const res = await h.request({ url: `/v1/users/u1/notifications?${q}` });
    assert.equal(res.statusCode, 400, q);
    const inbox = await h.request({ url: `/v1/users/u1/inbox?${q}` });
    assert.equal(inbox.statusCode, 400, q);
  }
});

test('Idempotency-Key: a repeat returns the first response; another body is 422', async () => {
  const body = { to: { userId: 'idem' }, title: 'once', channels: ['inbox'] };
  const first = await h.request({ method: 'POST', url: '/v1/notifications', payload: body, headers: { 'idempotency-key': 'k-1' } });
  const again = await h.request({ method: 'POST', url: '/v1/notifications', payload: body, headers: { 'Idempotency-Key': 'k-1' } });
  assert.equal(first.statusCode, 202);
  assert.equal(again.statusCode, 202);
  assert.deepEqual(again.json(), first.json());
  const { rows } = await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM notifications WHERE 'idem' = ANY (user_ids)`);
  assert.equal(rows[0]!.n, 1);
  const other = await h.request({ method: 'POST', url: '/v1/notifications', payload: { ...body, title: 'twice' }, headers: { 'idempotency-key': 'k-1' } });
  assert.equal(other.statusCode, 422);
  assert.equal(other.json().error.code, 'IDEMPOTENCY_KEY_REUSED');
});
