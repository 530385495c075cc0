import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { eventually, startEngine, type RunningEngine } from './helpers/engine.ts';
import { FcmChannel } from '../src/channels/fcm/index.ts';
import { createApnsChannel } from '../src/channels/apns/index.ts';
import { FakeFcmServer } from './fakes/fcm-server.ts';
import { createTestPki, startFakeApns, type FakeApns, type TestPki } from './fakes/apns-server.ts';

/**
 * A provider that drains a connection with GOAWAY while requests are in flight on it
 * (RFC 9113 §6.8): the streams at or below its last-stream-id may still be answered, so they must
 * not be sent again elsewhere; the ones above it were not processed, so they are sent again at
 * once. Through the real engine (API → deliveries → worker → channel → HTTP/2 pool → fake), every
 * device receives exactly one message, counted at the fake.
 */

const DEVICES = 40;
const HELD = 24;
const ANSWERED = 12;
const BUNDLE = 'com.example.goaway';

let h: TestHarness;
let engine: RunningEngine;
let fcm: FakeFcmServer;
let pki: TestPki;
let apns: FakeApns;

before(async () => {
  h = await createHarness();
  fcm = await new FakeFcmServer().start();
  pki = createTestPki();
  apns = await startFakeApns({ pki, auth: 'token', bundleId: BUNDLE });
  const apps = [
    ['droid', { fcm: { serviceAccount: fcm.account, url: fcm.url } }],
    ['ios', { apns: { teamId: 'TEAMID1234', keyId: 'KEYID12345', key: pki.tokenKey, bundleId: BUNDLE, environment: 'production', url: apns.origin } }],
  ] as const;
  for (const [appId, channels] of apps) {
    const res = await h.request({ method: 'PUT', url: `/v1/apps/${appId}`, payload: { name: appId, ...channels } });
    assert.equal(res.statusCode, 200, res.body);
  }
  const deps = { config: h.ctx.config, log: h.ctx.log, metrics: h.ctx.metrics, credentials: h.services.credentials };
  engine = await startEngine(h, [
    new FcmChannel({ credentials: h.services.credentials, log: h.ctx.log }, { ca: fcm.certificate.ca }),
    createApnsChannel(deps, { ca: pki.ca }),
  ]);
});

after(async () => {
  await engine.stop();
  await h.close();
  await fcm.close();
  await apns.close();
  pki.cleanup();
});

interface DeliveryView {
  readonly status: string;
  readonly attempts: number;
  readonly lastError?: string;
}

/** Register DEVICES devices for a new user, send one notification to them, wait until every delivery settled. */
async function sendToDevices(userId: string, device: (i: number) => Record<string, unknown>): Promise<DeliveryView[]> {
  for (let i = 0; i < DEVICES; i++) {
    const res = await h.request({ method: 'POST', url: `/v1/users/${userId}/devices`, payload: device(i) });
    assert.equal(res.statusCode, 201, res.body);
  }
  const created = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId }, channels: ['push'], title: 'Draining', body: 'one each' } });
  assert.equal(created.statusCode, 202, created.body);
  return eventually(async () => {
    const view = (await h.request({ url: `/v1/notifications/${created.json().id}` })).json() as { deliveries: DeliveryView[] };
    const settled = view.deliveries.length === DEVICES && view.deliveries.every((d) => d.status !== 'pending' && d.status !== 'sending');
    return settled ? view.deliveries : undefined;
  }, 30_000, 'every delivery to settle');
}

function counts(tokens: readonly string[]): Map<string, number> {
  const seen = new Map<string, number>();
  for (const t of tokens) seen.set(t, (seen.get(t) ?? 0) + 1);
  return seen;
}

test('FCM: a GOAWAY below in-flight streams — every device gets exactly one message, refused streams resent at once', async () => {
  const tokens = Array.from({ length: DEVICES }, (_, i) => `tok-goaway-${i}-${randomBytes(4).toString('hex')}`);
  const goAway = fcm.goAwayAfter(HELD, ANSWERED);
  const deliveries = await sendToDevices('goaway-fcm', (i) => ({ platform: 'android', token: tokens[i], appId: 'droid' }));
  const report = await goAway;
  assert.equal(report.answered.length, ANSWERED);
  assert.equal(report.refused.length, HELD - ANSWERED, 'some in-flight streams were above the last-stream-id');
  const seen = counts(fcm.received.map((r) => String(r.message.token)));
  assert.deepEqual(tokens.filter((t) => seen.get(t) !== 1).map((t) => [t, seen.get(t) ?? 0]), [], 'each device exactly once');
  assert.deepEqual(deliveries.filter((d) => d.status !== 'sent' || d.attempts !== 1), [], 'all sent on the first attempt');
});

test('APNs: a GOAWAY below in-flight streams — every device gets exactly one message, refused streams resent at once', async () => {
  const tokens = Array.from({ length: DEVICES }, () => randomBytes(32).toString('hex'));
  const goAway = apns.goAwayAfter(HELD, ANSWERED);
  const deliveries = await sendToDevices('goaway-apns', (i) => ({ platform: 'ios', token: tokens[i], appId: 'ios' }));
  const report = await goAway;
  assert.equal(report.answered.length, ANSWERED);
  assert.equal(report.refused.length, HELD - ANSWERED, 'some in-flight streams were above the last-stream-id');
  const seen = counts(apns.received.map((r) => r.token));
  assert.deepEqual(tokens.filter((t) => seen.get(t) !== 1).map((t) => [t, seen.get(t) ?? 0]), [], 'each device exactly once');
  assert.deepEqual(deliveries.filter((d) => d.status !== 'sent' || d.attempts !== 1), [], 'all sent on the first attempt');
  assert.deepEqual(apns.violations, []);
});
