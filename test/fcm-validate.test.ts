import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { FcmSender, validatePushDevice } from '../src/channels/fcm/index.ts';
import { FakeFcmServer } from './fakes/fcm-server.ts';

/**
 * Device registration with token validation (seed 002's dry run), wired as the composition root
 * would: `hooks.validateDevice = (d) => validatePushDevice(credentials, d, sender)`.
 */
let fake: FakeFcmServer;
let h: TestHarness;
let sender: FcmSender;

before(async () => {
  fake = await new FakeFcmServer().start();
  h = await createHarness();
  sender = new FcmSender({ ca: fake.certificate.ca });
  h.useHooks({ ...h.services.hooks, validateDevice: (device) => validatePushDevice(h.services.credentials, device, sender) });
  for (const [appId, validateTokens] of [['strict', true], ['lenient', false]] as const) {
    const res = await h.request({
      method: 'PUT',
      url: `/v1/apps/${appId}`,
      payload: { name: appId, fcm: { serviceAccount: fake.account, url: fake.url, validateTokens } },
    });
    assert.equal(res.statusCode, 200, res.body);
  }
});

after(async () => {
  await sender.close();
  await h.close();
  await fake.close();
});

const register = (appId: string, token: string) =>
  h.request({ method: 'POST', url: '/v1/users/val/devices', payload: { platform: 'android', token, appId } });

test('an app with validateTokens refuses a token FCM calls invalid, with a 422', async () => {
  const res = await register('strict', 'invalid-token-1');
  assert.equal(res.statusCode, 422, res.body);
  assert.equal(res.json().error.code, 'INVALID_DEVICE_TOKEN');
  assert.match(res.json().error.message, /registration token/);
  assert.equal(fake.received.length, 0, 'nothing was recorded as sent');
});

test('a token FCM accepts registers after a validate_only dry run', async () => {
  const before = fake.received.length;
  const res = await register('strict', 'tok-good-1');
  assert.equal(res.statusCode, 201, res.body);
  const dryRun = fake.received.slice(before);
  assert.deepEqual(dryRun.map((r) => [r.validateOnly, r.message.token]), [[true, 'tok-good-1']]);
});

test('UNREGISTERED on the dry run refuses the registration too', async () => {
  fake.failToken('tok-unreg-1', { status: 404, errorCode: 'UNREGISTERED' });
  const res = await register('strict', 'tok-unreg-1');
  assert.equal(res.statusCode, 422);
});

test('an app without validateTokens is not checked, and an FCM outage (503) does not block registration', async () => {
  const before = fake.received.length;
  assert.equal((await register('lenient', 'invalid-token-2')).statusCode, 201);
  assert.equal(fake.received.length, before);
  fake.failNext('tok-busy-1', { status: 503, errorCode: 'UNAVAILABLE' });
  assert.equal((await register('strict', 'tok-busy-1')).statusCode, 201);
});
