import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { startEngine, eventually, type RunningEngine } from './helpers/engine.ts';
import { FcmChannel } from '../src/channels/fcm/index.ts';
import { FakeFcmServer } from './fakes/fcm-server.ts';

/**
 * End to end: POST /v1/notifications → the engine → the FCM channel → the fake FCM, with the
 * default app's service account read from HERALD_FCM_SERVICE_ACCOUNT_FILE.
 */
let fake: FakeFcmServer;
let dir: string;
let h: TestHarness;
let engine: RunningEngine;

before(async () => {
  fake = await new FakeFcmServer().start();
  dir = await mkdtemp(path.join(tmpdir(), 'herald-fcm-e2e-'));
  const file = path.join(dir, 'service-account.json');
  await writeFile(file, JSON.stringify(fake.account));
  h = await createHarness({ HERALD_FCM_SERVICE_ACCOUNT_FILE: file, HERALD_FCM_URL: fake.url });
  const fcm = new FcmChannel({ credentials: h.services.credentials, log: h.ctx.log, metrics: h.ctx.metrics }, { ca: fake.certificate.ca });
  engine = await startEngine(h, [fcm]);
});

after(async () => {
  await engine.stop();
  await h.close();
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

async function registerAndroid(userId: string, token: string): Promise<string> {
  const res = await h.request({ method: 'POST', url: `/v1/users/${userId}/devices`, payload: { platform: 'android', token } });
  assert.ok(res.statusCode === 201 || res.statusCode === 200, res.body);
  return res.json().id as string;
}

async function settled(id: string): Promise<{ status: string; deliveries: Array<Record<string, unknown>> }> {
  return eventually(async () => {
    const res = await h.request({ url: `/v1/notifications/${id}` });
    const n = res.json() as { status: string; deliveries: Array<Record<string, unknown>> };
    return n.deliveries.length > 0 && n.deliveries.every((d) => !['pending', 'sending'].includes(String(d.status))) ? n : undefined;
  }, 15_000, `notification ${id} to settle`);
}

async function send(body: Record<string, unknown>): Promise<string> {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: body });
  assert.equal(res.statusCode, 202, res.body);
  return res.json().id as string;
}

test('a notification to a user reaches FCM for each Android device', async () => {
  await registerAndroid('ada', 'tok-ada-phone');
  await registerAndroid('ada', 'tok-ada-tablet');
  const id = await send({ to: { userId: 'ada' }, title: 'Stand-up', body: 'in 10 minutes', data: { room: 4 }, channels: ['push'], ttlSeconds: 600 });
  const n = await settled(id);
  assert.equal(n.status, 'sent');
  assert.deepEqual(n.deliveries.map((d) => [d.provider, d.status]), [['fcm', 'sent'], ['fcm', 'sent']]);
  assert.ok(n.deliveries.every((d) => String(d.providerId).startsWith('projects/herald-test/messages/')));
  const got = fake.received.filter((r) => String(r.message.token).startsWith('tok-ada-'));
  assert.equal(got.length, 2);
  const m = got[0]!.message as Record<string, any>;
  assert.deepEqual(m.notification, { title: 'Stand-up', body: 'in 10 minutes' });
  assert.deepEqual(m.data, { room: '4' });
  assert.match(m.android.ttl, /^\d+s$/);
});

test('UNREGISTERED marks the device invalid and nothing more is sent to it', async () => {
  const deviceId = await registerAndroid('bob', 'tok-bob-dead');
  fake.failToken('tok-bob-dead', { status: 404, errorCode: 'UNREGISTERED', message: 'Requested entity was not found.' });
  const n = await settled(await send({ to: { userId: 'bob' }, title: 'x', channels: ['push'] }));
  assert.equal(n.deliveries[0]!.status, 'failed');
  assert.match(String(n.deliveries[0]!.lastError), /UNREGISTERED/);
  const devices = (await h.request({ url: '/v1/users/bob/devices' })).json().items as Array<Record<string, unknown>>;
  const device = devices.find((d) => d.id === deviceId);
  assert.equal(device?.status, 'invalid');
});

test('a 503 with Retry-After is retried, then sent', async () => {
  await registerAndroid('cy', 'tok-cy');
  fake.failNext('tok-cy', { status: 503, errorCode: 'UNAVAILABLE', retryAfter: '1' });
  const n = await settled(await send({ to: { userId: 'cy' }, title: 'x', channels: ['push'] }));
  assert.equal(n.deliveries[0]!.status, 'sent');
  assert.equal(n.deliveries[0]!.attempts, 2);
});

test('a raw-device notification goes straight to the token', async () => {
  const n = await settled(await send({ to: { device: { platform: 'android', token: 'tok-raw' } }, title: 'raw' }));
  assert.equal(n.deliveries[0]!.status, 'sent');
  assert.ok(fake.received.some((r) => r.message.token === 'tok-raw'));
});
