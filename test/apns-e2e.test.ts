/**
 * End to end: POST /v1/notifications → delivery engine → APNs channel → the fake APNs server
 * (default app from HERALD_APNS_* variables, token auth), and seed 000's path: a Pub/Sub message
 * on Google's emulator → ingest-apns → engine → fake APNs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PubSub } from '@google-cloud/pubsub';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { eventually, startEngine, type RunningEngine } from './helpers/engine.ts';
import { startPubSubEmulator, type PubSubEmulator } from './helpers/pubsub-emulator.ts';
import { createTestPki, startFakeApns, type FakeApns, type FakeAction, type TestPki } from './fakes/apns-server.ts';
import { apnsIdFor, createApnsChannel } from '../src/channels/apns/index.ts';
import { ApnsIngest } from '../src/ingest-apns/index.ts';
import { ingestApnsRole } from '../src/runtime/roles/ingest-apns.ts';

const BUNDLE = 'com.example.e2e';
process.env.METADATA_SERVER_DETECTION = 'none'; // the emulator needs no Google credentials

let pki: TestPki;
let fake: FakeApns;
let h: TestHarness;
let engine: RunningEngine;
/** Answers per device token (default 200). */
const answers = new Map<string, FakeAction[]>();

before(async () => {
  pki = createTestPki();
  fake = await startFakeApns({ pki, auth: 'token', bundleId: BUNDLE });
  fake.script = (r) => answers.get(r.token)?.shift();
  h = await createHarness({
    HERALD_APNS_KEY_FILE: path.join(pki.dir, 'token.p8'),
    HERALD_APNS_KEY_ID: 'KEYID12345',
    HERALD_APNS_TEAM_ID: 'TEAMID1234',
    HERALD_APNS_BUNDLE_ID: BUNDLE,
    HERALD_APNS_URL: fake.origin,
  });
  const deps = { config: h.ctx.config, log: h.ctx.log, metrics: h.ctx.metrics, credentials: h.services.credentials };
  engine = await startEngine(h, [createApnsChannel(deps, { ca: pki.ca })]);
});

after(async () => {
  await engine.stop();
  await h.close();
  await fake.close();
  pki.cleanup();
});

interface DeliveryView {
  id: string;
  provider: string;
  status: string;
  attempts: number;
  lastError?: string;
  providerId?: string;
}

const token = () => randomBytes(32).toString('hex');

async function notify(body: Record<string, unknown>): Promise<string> {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: body });
  assert.equal(res.statusCode, 202, res.body);
  return res.json().id as string;
}

async function settled(id: string): Promise<{ status: string; deliveries: DeliveryView[] }> {
  return eventually(async () => {
    const n = (await h.request({ url: `/v1/notifications/${id}` })).json() as { status: string; deliveries: DeliveryView[] };
    return n.deliveries.length > 0 && n.deliveries.every((d) => !['pending', 'sending'].includes(d.status)) ? n : undefined;
  }, 20_000, `notification ${id} to settle`);
}

test('a notification to an iOS device reaches APNs, apns-id derived from the delivery id', async () => {
  const t = token();
  const id = await notify({ to: { device: { platform: 'ios', token: t } }, title: 'Parcel', body: 'Out for delivery', badge: 2, data: { parcel: 'p1' }, ttlSeconds: 300 });
  const n = await settled(id);
  assert.equal(n.status, 'sent');
  const d = n.deliveries[0]!;
  assert.equal(d.provider, 'apns');
  assert.equal(d.status, 'sent');
  assert.equal(d.providerId, apnsIdFor(d.id));
  const got = fake.received.find((r) => r.token === t)!;
  assert.equal(got.apnsId, apnsIdFor(d.id));
  assert.deepEqual(got.payload, { parcel: 'p1', aps: { alert: { title: 'Parcel', body: 'Out for delivery' }, badge: 2 } });
  const expiration = Number(got.headers['apns-expiration']);
  assert.ok(Math.abs(expiration - (Date.now() / 1000 + 300)) < 30, 'apns-expiration from ttlSeconds');
  assert.deepEqual(fake.violations, []);
});

test('APNs 500 is retried by the engine with the same apns-id, then delivered', async () => {
  const t = token();
  answers.set(t, [{ status: 500, reason: 'InternalServerError' }]);
  const n = await settled(await notify({ to: { device: { platform: 'ios', token: t } }, title: 'Retry me' }));
  assert.equal(n.status, 'sent');
  assert.equal(n.deliveries[0]!.attempts, 2);
  const ids = fake.received.filter((r) => r.token === t).map((r) => r.apnsId);
  const apnsId = apnsIdFor(n.deliveries[0]!.id);
  assert.deepEqual(ids, [apnsId, apnsId]);
});

test('410 Unregistered marks a registered device invalid', async () => {
  const t = token();
  const reg = await h.request({ method: 'POST', url: '/v1/users/ios-user/devices', payload: { platform: 'ios', token: t } });
  assert.ok(reg.statusCode < 300, reg.body);
  const deviceId = reg.json().id as string;
  answers.set(t, [{ status: 410, reason: 'Unregistered', timestamp: Date.now() + 1000 }]);
  const n = await settled(await notify({ to: { userId: 'ios-user' }, channels: ['push'], title: 'Bye' }));
  assert.equal(n.deliveries[0]!.status, 'failed');
  assert.match(n.deliveries[0]!.lastError ?? '', /410 Unregistered/);
  const devices = (await h.request({ url: '/v1/users/ios-user/devices' })).json().items as Array<{ id: string; status: string }>;
  assert.equal(devices.find((x) => x.id === deviceId)!.status, 'invalid');
});

test('seed 000: a Pub/Sub message becomes an APNs push through the engine', async () => {
  const emulator: PubSubEmulator = await startPubSubEmulator();
  const client = new PubSub({ projectId: 'herald-e2e', apiEndpoint: emulator.host, emulatorMode: true });
  const ingest = new ApnsIngest({
    projectId: 'herald-e2e',
    emulatorHost: emulator.host,
    topic: 'notifications',
    subscription: 'notifications-apn',
    maxAgeSeconds: 600,
    autoCreate: true,
    log: h.ctx.log,
    metrics: h.ctx.metrics,
    health: h.services.health,
    notifications: h.services.notifications,
  });
  try {
    await ingest.start();
    const t = token();
    const body = { aps: { alert: { title: 'Seed', body: 'zero' }, sound: 'default', 'content-available': 1 }, custom: 'v' };
    const identifier = 'x'.repeat(80);
    await client.topic('notifications').publishMessage({ json: body, attributes: { to: t, identifier } });
    const got = await eventually(async () => fake.received.find((r) => r.token === t), 30_000, 'the push at the fake APNs');
    assert.deepEqual(got.payload, body);
    assert.equal(got.headers['apns-push-type'], 'alert');
    assert.match(String(got.headers['apns-collapse-id']), /^[0-9a-f]{64}$/);
    const expiration = Number(got.headers['apns-expiration']);
    assert.ok(Math.abs(expiration - (Date.now() / 1000 + 600)) < 60, 'apns-expiration = publish time + max age');
    // Redelivery of the same message id would not make a second notification; and the liveness check is healthy.
    assert.deepEqual(await h.services.health.problems(), []);
  } finally {
    await ingest.stop();
    await client.close();
    await emulator.stop();
  }
});

test('herald ingest-apns without HERALD_PUBSUB_PROJECT names the variable; herald start skips it', () => {
  assert.equal(ingestApnsRole(h.ctx, h.services, true), undefined);
  assert.throws(() => ingestApnsRole(h.ctx, h.services, false), /HERALD_PUBSUB_PROJECT/);
});
