import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { startEngine, eventually, type RunningEngine } from './helpers/engine.ts';
import { WebPushChannel, generateVapidKeys } from '../src/channels/webpush/index.ts';
import { FakeWebPushServer } from './fakes/webpush-server.ts';
import { OutboundPolicy } from '../src/outbound/index.ts';

/**
 * End to end as a browser would see it: fetch the VAPID public key, subscribe with it, register
 * the subscription, POST /v1/notifications, and the push service decrypts what the engine sent.
 */
let fake: FakeWebPushServer;
let h: TestHarness;
let engine: RunningEngine;
/** The default app's pair, as an operator would set it in the environment. */
const VAPID = generateVapidKeys();

before(async () => {
  fake = await new FakeWebPushServer().start();
  h = await createHarness({ HERALD_VAPID_PUBLIC_KEY: VAPID.publicKey, HERALD_VAPID_PRIVATE_KEY: VAPID.privateKey, HERALD_VAPID_SUBJECT: 'mailto:ops@example.com' });
  const channel = new WebPushChannel({ credentials: h.services.credentials, log: h.ctx.log, metrics: h.ctx.metrics, outbound: new OutboundPolicy(h.ctx.config.outbound.allow) }, { ca: fake.certificate.ca });
  engine = await startEngine(h, [channel]);
});

after(async () => {
  await engine.stop();
  await h.close();
  await fake.close();
});

async function settled(id: string): Promise<{ status: string; deliveries: Array<Record<string, unknown>> }> {
  return eventually(async () => {
    const n = (await h.request({ url: `/v1/notifications/${id}` })).json() as { status: string; deliveries: Array<Record<string, unknown>> };
    return n.deliveries.length > 0 && n.deliveries.every((d) => !['pending', 'sending'].includes(String(d.status))) ? n : undefined;
  }, 15_000, `notification ${id} to settle`);
}

async function subscribeBrowser(userId: string) {
  const key = await h.app.inject({ method: 'GET', url: '/v1/apps/default/webpush/vapid-public-key' });
  assert.equal(key.statusCode, 200);
  const subscription = fake.subscribe(key.json().publicKey as string);
  const res = await h.request({ method: 'POST', url: `/v1/users/${userId}/devices`, payload: { platform: 'web', subscription: { endpoint: subscription.endpoint, keys: subscription.keys } } });
  assert.equal(res.statusCode, 201, res.body);
  return { subscription, deviceId: res.json().id as string };
}

test('subscribe with the served key, notify, and the push service decrypts the message', async () => {
  const { subscription } = await subscribeBrowser('ada');
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'ada' }, title: 'Stand-up', body: 'in 10 minutes', url: 'https://example.com/r/1', channels: ['push'], priority: 'high', collapseId: 'standup', ttlSeconds: 120 } });
  assert.equal(res.statusCode, 202, res.body);
  const n = await settled(res.json().id as string);
  assert.deepEqual(n.deliveries.map((d) => [d.provider, d.status]), [['webpush', 'sent']]);
  const push = fake.received.find((r) => r.subscriptionId === subscription.id)!;
  const payload = JSON.parse(push.payload);
  assert.equal(payload.title, 'Stand-up');
  assert.equal(payload.url, 'https://example.com/r/1');
  assert.equal(push.urgency, 'high');
  assert.equal(push.topic, 'standup');
  assert.ok(push.ttl > 0 && push.ttl <= 120);
});

test('a subscription the push service says is gone (410) makes the device invalid', async () => {
  const { subscription, deviceId } = await subscribeBrowser('bob');
  fake.unsubscribe(subscription.id);
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'bob' }, title: 'x', channels: ['push'] } });
  const n = await settled(res.json().id as string);
  assert.equal(n.deliveries[0]!.status, 'failed');
  const devices = (await h.request({ url: '/v1/users/bob/devices' })).json().items as Array<Record<string, unknown>>;
  assert.equal(devices.find((d) => d.id === deviceId)?.status, 'invalid');
});

test('429 with Retry-After is retried and then delivered', async () => {
  const { subscription } = await subscribeBrowser('cy');
  fake.failNext(subscription.id, { status: 429, retryAfter: '1' });
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'cy' }, title: 'later', channels: ['push'] } });
  const n = await settled(res.json().id as string);
  assert.equal(n.deliveries[0]!.status, 'sent');
  assert.equal(n.deliveries[0]!.attempts, 2);
  assert.equal(JSON.parse(fake.received.find((r) => r.subscriptionId === subscription.id)!.payload).title, 'later');
});
