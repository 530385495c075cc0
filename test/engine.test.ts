import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { startEngine, scriptedChannel, webhookSink, eventually, type RunningEngine } from './helpers/engine.ts';

const SECRET = 'whsec-test';
let h: TestHarness;
let engine: RunningEngine;
let sink: Awaited<ReturnType<typeof webhookSink>>;
let failFirst = new Set<string>();
const apns = scriptedChannel('apns', (job) =>
  job.device?.token.startsWith('dead') ? { status: 'device-invalid', error: 'BadDeviceToken' } : { status: 'sent', providerId: `apns-${job.id}` },
);

before(async () => {
  // The receiver answers 500 to the first attempt of notifications in failFirst, then 200.
  sink = await webhookSink((r) => {
    const id = String(r.json.notificationId);
    if (failFirst.has(id)) {
      failFirst.delete(id);
      return 500;
    }
    return 200;
  });
  h = await createHarness({ HERALD_WEBHOOK_URL: sink.url, HERALD_WEBHOOK_SECRET: SECRET });
  engine = await startEngine(h, [apns]);
});
after(async () => {
  await engine.stop();
  await h.close();
  await sink.close();
});

async function send(body: Record<string, unknown>): Promise<string> {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: body });
  assert.equal(res.statusCode, 202, res.body);
  return res.json().id as string;
}

async function notification(id: string): Promise<{ status: string; deliveries: Array<Record<string, unknown>> }> {
  const res = await h.request({ url: `/v1/notifications/${id}` });
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}

async function settled(id: string) {
  return eventually(async () => {
    const n = await notification(id);
    return n.deliveries.length > 0 && n.deliveries.every((d) => !['pending', 'sending'].includes(String(d.status))) ? n : undefined;
  }, 15_000, `notification ${id} to settle`);
}

async function registerIos(userId: string, token: string): Promise<string> {
  const res = await h.request({ method: 'POST', url: `/v1/users/${userId}/devices`, payload: { platform: 'ios', token } });
  assert.ok(res.statusCode === 201 || res.statusCode === 200, res.body);
  return res.json().id as string;
}

test('fan-out: one delivery per valid device plus one per other channel, filtered by preferences', async () => {
  await h.request({ method: 'PUT', url: '/v1/users/fan', payload: { email: 'fan@example.com', preferences: { channels: { email: false } } } });
  await registerIos('fan', 'a'.repeat(64));
  await registerIos('fan', 'b'.repeat(64));
  const id = await send({ to: { userId: 'fan' }, title: 'Hi', body: 'there', channels: ['push', 'email', 'inbox', 'webhook'] });
  const n = await settled(id);
  const byProvider = n.deliveries.map((d) => d.provider).sort();
  assert.deepEqual(byProvider, ['apns', 'apns', 'inbox', 'webhook']);
  assert.equal(n.status, 'sent');
  assert.ok(n.deliveries.every((d) => d.status === 'sent'));
  const apnsIds = n.deliveries.filter((d) => d.provider === 'apns').map((d) => d.providerId);
  assert.ok(apnsIds.every((p) => typeof p === 'string' && p.startsWith('apns-')));
});

test('a webhook answering 500 then 200 gets the delivery on retry, with a valid signature', async () => {
  const before = sink.received.length;
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'hooked' }, title: 'T', body: 'B', data: { k: 'v' }, channels: ['webhook'], sendAt: new Date(Date.now() + 300).toISOString() } });
  const id = res.json().id as string;
  failFirst.add(id);
  const n = await settled(id);
  assert.equal(n.deliveries[0]!.status, 'sent');
  assert.equal(n.deliveries[0]!.attempts, 2);
  const mine = sink.received.slice(before).filter((r) => r.json.notificationId === id);
  assert.equal(mine.length, 2);
  const last = mine[1]!;
  const sig = String(last.headers['herald-signature']);
  const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig) ?? [];
  assert.ok(t && v1, `signature header ${sig}`);
  assert.equal(createHmac('sha256', SECRET).update(`${t}.${last.body}`).digest('hex'), v1);
  assert.equal(last.json.title, 'T');
  assert.deepEqual(last.json.data, { k: 'v' });
  assert.equal(last.headers['herald-delivery-id'], n.deliveries[0]!.id);
});

test('a device the provider rejects is marked invalid, with a device:invalidated event, and gets nothing more', async () => {
  const deviceId = await registerIos('inv', 'dead' + 'c'.repeat(60));
  const id = await send({ to: { userId: 'inv' }, title: 'x', channels: ['push'] });
  const n = await settled(id);
  assert.equal(n.deliveries[0]!.status, 'failed');
  assert.equal(n.deliveries[0]!.lastError, 'BadDeviceToken');
  const devices = (await h.request({ url: '/v1/users/inv/devices' })).json().items as Array<Record<string, unknown>>;
  const device = devices.find((d) => d.id === deviceId)!;
  assert.equal(device.status, 'invalid');
  const events = (await h.request({ url: '/v1/users/inv/events' })).json().items as Array<{ type: string }>;
  assert.ok(events.some((e) => e.type === 'device:invalidated'));
  assert.ok(events.some((e) => e.type === 'notification:failed'));
  const id2 = await send({ to: { userId: 'inv' }, title: 'again', channels: ['push'] });
  assert.equal((await notification(id2)).status, 'undeliverable');
});

test('a thousand notifications due in the same second all go out, each once', async () => {
  const at = new Date(Date.now() + 1500).toISOString();
  const inputs = Array.from({ length: 1000 }, (_, i) => ({ to: { userId: `burst-${i % 50}` }, title: `n${i}`, channels: ['inbox' as const], sendAt: at }));
  const created = await h.services.notifications.createMany(inputs, { source: 'test' });
  await eventually(async () => {
    const { rows } = await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM deliveries WHERE notification_id = ANY ($1) AND status = 'sent'`, [created.map((c) => c.id)]);
    return rows[0]!.n === 1000;
  }, 20_000, '1000 sent');
  const { rows } = await h.db.pool.query<{ n: number; early: number }>(
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE i.created_at < $2::timestamptz)::int AS early
       FROM inbox_items i WHERE i.notification_id = ANY ($1)`,
    [created.map((c) => c.id), at],
  );
  assert.equal(rows[0]!.n, 1000, 'one inbox item per delivery');
  assert.equal(rows[0]!.early, 0, 'nothing sent before its time');
});

test('TTL: a delivery past its ttlSeconds is expired and never sent', async () => {
  await engine.worker.stop(1000);
  const before = sink.received.length;
  const id = await send({ to: { userId: 'ttl' }, title: 'stale', channels: ['webhook'], ttlSeconds: 1 });
  await new Promise((r) => setTimeout(r, 1300));
  engine = await restartWorker();
  const n = await settled(id);
  assert.equal(n.deliveries[0]!.status, 'expired');
  assert.equal(n.status, 'expired');
  assert.ok(!sink.received.slice(before).some((r) => r.json.notificationId === id));
});

async function restartWorker(): Promise<RunningEngine> {
  await engine.stop();
  return startEngine(h, [apns]);
}

test('cancel before sending answers 204 and nothing is sent; after sending, 409', async () => {
  const id = await send({ to: { userId: 'cancel' }, title: 'later', channels: ['webhook'], sendAt: new Date(Date.now() + 60_000).toISOString() });
  assert.equal((await notification(id)).status, 'scheduled');
  const del = await h.request({ method: 'DELETE', url: `/v1/notifications/${id}` });
  assert.equal(del.statusCode, 204);
  const n = await notification(id);
  assert.equal(n.status, 'cancelled');
  assert.ok(n.deliveries.every((d) => d.status === 'cancelled'));
  const sent = await send({ to: { userId: 'cancel' }, title: 'now', channels: ['inbox'] });
  await settled(sent);
  const late = await h.request({ method: 'DELETE', url: `/v1/notifications/${sent}` });
  assert.equal(late.statusCode, 409);
  assert.equal(late.json().error.code, 'CONFLICT');
});

test('failed deliveries are kept and can be re-driven with POST /retry', async () => {
  const flaky = scriptedChannel('fcm', () => ({ status: 'failed', error: 'provider said no' }));
  await engine.stop();
  engine = await startEngine(h, [apns, flaky]);
  const res = await h.request({ method: 'POST', url: '/v1/users/redrive/devices', payload: { platform: 'android', token: 'fcm-token-1' } });
  assert.ok(res.statusCode < 300, res.body);
  const id = await send({ to: { userId: 'redrive' }, title: 'x', channels: ['push'] });
  assert.equal((await settled(id)).status, 'failed');
  await engine.stop();
  engine = await startEngine(h, [apns, scriptedChannel('fcm', () => ({ status: 'sent', providerId: 'ok' }))]);
  const retry = await h.request({ method: 'POST', url: `/v1/notifications/${id}/retry` });
  assert.equal(retry.statusCode, 202);
  assert.equal(retry.json().redriven, 1);
  assert.equal((await settled(id)).status, 'sent');
});

test('a retrying delivery gives up after the channel’s attempt limit and is failed', async () => {
  const always = scriptedChannel('webpush', () => ({ status: 'retry', error: 'HTTP 503' }), 3);
  await engine.stop();
  engine = await startEngine(h, [apns, always]);
  const id = await send({ to: { device: { platform: 'web', subscription: { endpoint: 'https://push.example/abc', keys: { p256dh: 'p', auth: 'a' } } } }, title: 'x' });
  const n = await settled(id);
  assert.equal(n.deliveries[0]!.status, 'failed');
  assert.equal(n.deliveries[0]!.attempts, 3);
  assert.match(String(n.deliveries[0]!.lastError), /gave up after 3 attempts: HTTP 503/);
  assert.equal(always.jobs.length, 3);
});

test('a device registered after a notification was scheduled still receives it', async () => {
  const id = await send({ to: { userId: 'late' }, title: 'soon', channels: ['push'], sendAt: new Date(Date.now() + 800).toISOString() });
  assert.equal((await notification(id)).status, 'undeliverable');
  await registerIos('late', 'e'.repeat(64));
  const n = await settled(id);
  assert.equal(n.deliveries.length, 1);
  assert.equal(n.deliveries[0]!.status, 'sent');
});

test('the inbox stream pushes new items as Server-Sent Events', async () => {
  const address = await h.app.listen({ port: 0, host: '127.0.0.1' });
  const controller = new AbortController();
  const res = await fetch(`${address}/v1/users/sse-user/inbox/stream`, { headers: { authorization: `Bearer ${h.apiKey}` }, signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const reader = res.body!.getReader();
  let text = '';
  const got = (async () => {
    while (!text.includes('event: inbox')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  await send({ to: { userId: 'sse-user' }, title: 'live', body: 'now', channels: ['inbox'] });
  await Promise.race([got, new Promise((_, reject) => setTimeout(() => reject(new Error('no SSE event')), 10_000))]);
  controller.abort();
  const data = JSON.parse(/data: (.*)\n/.exec(text.slice(text.indexOf('event: inbox')))![1]!) as { title: string; id: string };
  assert.equal(data.title, 'live');
  const list = await h.request({ url: '/v1/users/sse-user/inbox' });
  assert.equal(list.json().items[0].id, data.id);
  const read = await h.request({ method: 'POST', url: `/v1/users/sse-user/inbox/${data.id}/read` });
  assert.equal(read.statusCode, 200);
  assert.ok(read.json().readAt);
  assert.equal((await h.request({ url: '/v1/users/sse-user/inbox?unread=true' })).json().items.length, 0);
});

test('/metrics exposes lateness, outcomes by provider, the due backlog and the oldest due age', async () => {
  const id = await send({ to: { userId: 'metered' }, title: 'm', channels: ['inbox'] });
  await settled(id);
  const res = await h.app.inject({ url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /herald_delivery_lateness_seconds_bucket\{le="[^"]+",provider="inbox"\} \d+/);
  assert.match(res.body, /herald_deliveries_total\{provider="inbox",outcome="sent"\} [1-9]\d*/);
  assert.match(res.body, /herald_deliveries_due \d+/);
  assert.match(res.body, /herald_deliveries_oldest_due_seconds \d/);
});
