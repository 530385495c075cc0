import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { generateVapidKeys } from '../src/channels/webpush/index.ts';

/** GET /v1/apps/{appId}/webpush/vapid-public-key: what a browser subscribes with. */

const defaultKeys = generateVapidKeys();
let h: TestHarness;

before(async () => {
  h = await createHarness({
    HERALD_VAPID_PUBLIC_KEY: defaultKeys.publicKey,
    HERALD_VAPID_PRIVATE_KEY: defaultKeys.privateKey,
    HERALD_VAPID_SUBJECT: 'mailto:ops@example.com',
  });
});

after(async () => {
  await h.close();
});

test('the default app’s public key is served without credentials, CORS-open', async () => {
  const res = await h.app.inject({ method: 'GET', url: '/v1/apps/default/webpush/vapid-public-key' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { appId: 'default', publicKey: defaultKeys.publicKey });
  assert.equal(res.headers['access-control-allow-origin'], '*');
  assert.doesNotMatch(res.body, new RegExp(defaultKeys.privateKey));
});

test('an app configured through the API serves its own key', async () => {
  const keys = generateVapidKeys();
  const put = await h.request({
    method: 'PUT',
    url: '/v1/apps/shop',
    payload: { name: 'Shop', webpush: { vapidPublicKey: keys.publicKey, vapidPrivateKey: keys.privateKey, subject: 'mailto:shop@example.com' } },
  });
  assert.equal(put.statusCode, 200, put.body);
  const res = await h.app.inject({ method: 'GET', url: '/v1/apps/shop/webpush/vapid-public-key' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().publicKey, keys.publicKey);
});

test('an unknown app, or one without Web Push, is 404; a malformed app id is 400', async () => {
  const unknown = await h.app.inject({ method: 'GET', url: '/v1/apps/nope/webpush/vapid-public-key' });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().error.code, 'NOT_FOUND');
  await h.request({ method: 'PUT', url: '/v1/apps/mailonly', payload: { name: 'Mail', webhook: { url: 'https://example.com/hook' } } });
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/apps/mailonly/webpush/vapid-public-key' })).statusCode, 404);
  const bad = await h.app.inject({ method: 'GET', url: '/v1/apps/%20bad%20/webpush/vapid-public-key' });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'VALIDATION_FAILED');
});

test('the route is in the OpenAPI document, marked as needing no credentials', async () => {
  const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, { get?: { security?: unknown[] } }> };
  const op = doc.paths['/v1/apps/{appId}/webpush/vapid-public-key']?.get;
  assert.ok(op, 'documented');
  assert.deepEqual(op.security, []);
});
