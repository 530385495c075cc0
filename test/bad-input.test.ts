import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { createHarness, TEST_JWT_SECRET, type TestHarness } from './helpers/app.ts';
import { NO_HOOKS } from '../src/core/hooks.ts';

/**
 * Bad input to every endpoint that takes a body: each answers its documented 4xx with a stable
 * code, never 500, and leaves no row behind.
 */
let h: TestHarness;
let userToken: string;
let reminderId: string;
const inHours = (n: number) => new Date(Date.now() + n * 3_600_000).toISOString();

before(async () => {
  h = await createHarness({}, { hooks: NO_HOOKS });
  userToken = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('me-user').setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));
  const r = await h.request({ method: 'POST', url: '/v1/users/base/reminders', payload: { date: inHours(2), message: 'base' } });
  reminderId = r.json().id;
});
after(async () => {
  await h.close();
});

interface Endpoint {
  method: 'PUT' | 'POST' | 'PATCH';
  url: () => string;
  valid: () => Record<string, unknown>;
  wrongType: Record<string, unknown>;
  missing?: Record<string, unknown>;
  user?: boolean;
}

const ENDPOINTS: Endpoint[] = [
  { method: 'PUT', url: () => '/v1/users/bad-u', valid: () => ({ name: 'x' }), wrongType: { name: 42 } },
  { method: 'PUT', url: () => '/v1/me', valid: () => ({ name: 'x' }), wrongType: { preferences: 'all' }, user: true },
  { method: 'POST', url: () => '/v1/users/bad-u/devices', valid: () => ({ platform: 'android', token: 't' }), wrongType: { platform: 'android', token: 7 }, missing: { token: 'x' } },
  { method: 'POST', url: () => '/v1/me/devices', valid: () => ({ platform: 'android', token: 't2' }), wrongType: { platform: ['ios'] }, missing: {}, user: true },
  { method: 'POST', url: () => '/v1/users/bad-u/reminders', valid: () => ({ date: inHours(2), message: 'm' }), wrongType: { date: inHours(2), message: 'm', notifyOffset: '10' }, missing: { message: 'm' } },
  { method: 'POST', url: () => '/v1/me/reminders', valid: () => ({ date: inHours(2), message: 'm' }), wrongType: { date: 'tomorrow', message: 'm' }, missing: { date: inHours(2) }, user: true },
  { method: 'PATCH', url: () => `/v1/users/base/reminders/${reminderId}`, valid: () => ({ message: 'x' }), wrongType: { channels: 'push' } },
  { method: 'POST', url: () => `/v1/users/base/reminders/${reminderId}`, valid: () => ({ message: 'x' }), wrongType: { isRecurring: 'yes' } },
  { method: 'PUT', url: () => '/v1/apps/bad-app', valid: () => ({ name: 'x' }), wrongType: { name: { first: 'x' } }, missing: {} },
  { method: 'PUT', url: () => '/v1/apps/bad-app', valid: () => ({ name: 'x' }), wrongType: { name: 'x', retentionDays: 0 } },
  { method: 'POST', url: () => '/v1/keys', valid: () => ({ name: 'k', scopes: ['users:read'] }), wrongType: { name: 'k', scopes: 'users:read' }, missing: { name: 'k' } },
  { method: 'POST', url: () => '/v1/keys', valid: () => ({ name: 'k', scopes: ['users:read'] }), wrongType: { name: 'k', scopes: ['users:read'], appIds: 'shop' } },
];

async function snapshot(): Promise<string> {
  const { rows } = await h.db.pool.query(`SELECT
    (SELECT count(*) FROM users) u, (SELECT count(*) FROM devices) d, (SELECT count(*) FROM reminders) r,
    (SELECT count(*) FROM apps) a, (SELECT count(*) FROM events) e, (SELECT count(*) FROM api_keys) k,
    (SELECT max(updated_at) FROM reminders) ru`);
  return JSON.stringify(rows[0]);
}

function send(e: Endpoint, payload: string | undefined, headers: Record<string, string> = {}) {
  const auth = e.user ? { authorization: `Bearer ${userToken}` } : { authorization: `Bearer ${h.apiKey}` };
  return h.app.inject({ method: e.method, url: e.url(), payload, headers: { 'content-type': 'application/json', ...auth, ...headers } });
}

function expect(res: { statusCode: number; body: string }, status: number, code: string, what: string): void {
  assert.equal(res.statusCode, status, `${what}: ${res.body}`);
  const body = JSON.parse(res.body) as { error: { code: string; message: string } };
  assert.equal(body.error.code, code, what);
  assert.ok(!/\bat .+\.ts:\d+/.test(res.body), `${what}: no stack traces in responses`);
}

for (const e of ENDPOINTS) {
  test(`${e.method} ${e.url().replace(/[0-9a-f-]{36}/, ':id')}: every kind of bad input is a 4xx and writes nothing`, async () => {
    const before = await snapshot();
    const what = (k: string) => `${e.method} ${e.url()} ${k}`;
    expect(await send(e, '{"name": '), 400, 'VALIDATION_FAILED', what('malformed JSON'));
    expect(await send(e, ''), 400, 'VALIDATION_FAILED', what('empty body'));
    expect(await send(e, JSON.stringify(e.wrongType)), 400, 'VALIDATION_FAILED', what('wrong type'));
    expect(await send(e, '[1,2]'), 400, 'VALIDATION_FAILED', what('array body'));
    expect(await send(e, 'null'), 400, 'VALIDATION_FAILED', what('null body'));
    if (e.missing) expect(await send(e, JSON.stringify(e.missing)), 400, 'VALIDATION_FAILED', what('missing field'));
    const unknown = await send(e, JSON.stringify({ ...e.valid(), surprise: true }));
    expect(unknown, 400, 'VALIDATION_FAILED', what('unknown field'));
    assert.match(unknown.body, /surprise/);
    expect(await send(e, JSON.stringify({ ...e.valid(), pad: 'x'.repeat(1_100_000) })), 413, 'PAYLOAD_TOO_LARGE', what('huge body'));
    expect(await send(e, 'name=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'UNSUPPORTED_MEDIA_TYPE', what('form body'));
    expect(await send(e, 'hello', { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE', what('text body'));
    expect(await h.app.inject({ method: e.method, url: e.url(), payload: e.valid() }), 401, 'UNAUTHENTICATED', what('no credentials'));
    expect(await send(e, JSON.stringify(e.valid()), { authorization: 'Bearer hk_not-a-real-key' }), 401, 'UNAUTHENTICATED', what('bad key'));
    const crossed = e.user ? { authorization: `Bearer ${h.apiKey}` } : { authorization: `Bearer ${userToken}` };
    expect(await send(e, JSON.stringify(e.valid()), crossed), 403, 'PERMISSION_DENIED', what('wrong kind of credentials'));
    assert.equal(await snapshot(), before, what('nothing written'));
  });
}

test('bad ids are 400, unknown ids 404, and never 500', async () => {
  const cases: Array<[string, string, number, string]> = [
    ['GET', '/v1/users/has%20space', 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/users/base/reminders/not!an!id', 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/users/base/reminders/0190d8c0-0000-7000-8000-000000000000', 404, 'NOT_FOUND'],
    ['DELETE', '/v1/users/base/devices/nope', 404, 'NOT_FOUND'],
    ['DELETE', `/v1/users/base/devices/${'z'.repeat(65)}`, 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/apps/-bad', 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/apps/missing', 404, 'NOT_FOUND'],
    ['GET', '/v1/users/base/reminders?limit=abc', 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/users/base/reminders?offset=-1', 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/users/base/reminders?limit=101', 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/users/%00/devices', 400, 'VALIDATION_FAILED'],
    ['DELETE', '/v1/keys/no-such-key', 404, 'NOT_FOUND'],
    ['DELETE', `/v1/keys/${'k'.repeat(65)}`, 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/audit?limit=0', 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/audit?limit=501', 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/audit?after=abc', 400, 'VALIDATION_FAILED'],
    ['GET', `/v1/audit?after=${'9'.repeat(20)}`, 400, 'VALIDATION_FAILED'],
  ];
  for (const [method, url, status, code] of cases) {
    expect(await h.request({ method: method as 'GET', url }), status, code, `${method} ${url}`);
  }
  // Longer than a user id (200) is refused by the schema; longer than the router's maxParamLength
  // (2,400) by the router, before any hook runs: 4xx either way.
  for (const n of [300, 3000]) {
    const long = await h.request({ url: `/v1/users/${'x'.repeat(n)}` });
    assert.ok(long.statusCode >= 400 && long.statusCode < 500, long.body);
  }
});

test('a route asked with a method it does not take is 405 METHOD_NOT_ALLOWED with Allow; an unknown path stays 404', async () => {
  const cases: Array<[string, string, string]> = [
    ['PATCH', '/v1/users/base', 'GET, PUT, DELETE'],
    ['PUT', '/v1/notifications', 'POST'],
    ['DELETE', '/v1/users/base/devices', 'GET, POST'],
  ];
  for (const [method, url, allow] of cases) {
    const res = await h.request({ method: method as 'GET', url, payload: {} });
    expect(res, 405, 'METHOD_NOT_ALLOWED', `${method} ${url}`);
    assert.deepEqual(res.headers.allow?.toString().split(', ').sort(), allow.split(', ').sort(), `${method} ${url}`);
  }
  expect(await h.request({ method: 'PATCH', url: '/v1/no-such-route', payload: {} }), 404, 'NOT_FOUND', 'unknown path');
});

test('every missing resource is 404 NOT_FOUND, with the resource named in details', async () => {
  const id = '0190d8c0-0000-7000-8000-000000000000';
  const cases: Array<[string, string, string, object?]> = [
    ['GET', '/v1/users/nobody-here', 'user'],
    ['DELETE', '/v1/users/base/devices/nope', 'device'],
    ['GET', `/v1/users/base/reminders/${id}`, 'reminder'],
    ['PATCH', `/v1/users/base/reminders/${id}`, 'reminder', { message: 'x' }],
    ['POST', `/v1/users/base/reminders/${id}`, 'reminder', { message: 'x' }],
    ['DELETE', `/v1/users/base/reminders/${id}`, 'reminder'],
    ['GET', `/v1/notifications/${id}`, 'notification'],
    ['DELETE', `/v1/notifications/${id}`, 'notification'],
    ['POST', `/v1/users/base/inbox/${id}/read`, 'inbox item'],
    ['GET', '/v1/apps/missing', 'app'],
    ['GET', '/v1/no-such-route', 'route'],
  ];
  for (const [method, url, resource, payload] of cases) {
    const res = await h.request({ method: method as 'GET', url, ...(payload ? { payload } : {}) });
    expect(res, 404, 'NOT_FOUND', `${method} ${url}`);
    assert.equal(res.json().error.details?.resource, resource, `${method} ${url}: ${res.body}`);
  }
});

test('nasty values inside valid shapes are refused with 4xx, not 500', async () => {
  const before = await snapshot();
  const payloads: unknown[] = [
    { date: '2026-13-45T99:99:99Z', message: 'm' },
    { date: inHours(2), message: 'nul \u0000 byte' },
    { date: inHours(2), message: 'm', notifyOffset: 1e12 },
    { date: inHours(2), message: 'm', notifyOffset: 1.5 },
    { date: inHours(2), message: 'm', channels: [] },
    { date: inHours(2), message: 'm', channels: ['pigeon'] },
    { date: inHours(2), message: 'm', notifyType: 'push', channels: ['email'] },
    { date: inHours(2), message: 'm', isRecurring: false, recurrence: 'FREQ=DAILY' },
    { date: inHours(2), message: 'm', url: 'not a url' },
    { date: inHours(2), message: '' },
  ];
  for (const payload of payloads) {
    const res = await h.request({ method: 'POST', url: '/v1/users/nasty/reminders', payload: payload as object });
    assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${JSON.stringify(payload)} → ${res.statusCode} ${res.body}`);
  }
  const user = await h.request({ method: 'PUT', url: '/v1/users/nasty', payload: { name: 'a\u0000b' } });
  assert.ok(user.statusCode >= 400 && user.statusCode < 500, user.body);
  assert.equal(await snapshot(), before);
});
