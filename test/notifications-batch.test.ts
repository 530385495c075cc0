import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { startEngine, scriptedChannel, webhookSink, eventually, type RunningEngine } from './helpers/engine.ts';

let h: TestHarness;
let engine: RunningEngine;
let sink: Awaited<ReturnType<typeof webhookSink>>;
const apns = scriptedChannel('apns', (job) => ({ status: 'sent', providerId: `apns-${job.id}` }));
const IOS_TOKEN = 'a'.repeat(64);

before(async () => {
  sink = await webhookSink(() => 200);
  h = await createHarness({ HERALD_WEBHOOK_URL: sink.url, HERALD_WEBHOOK_SECRET: 'whsec-batch' });
  engine = await startEngine(h, [apns]);
});
after(async () => {
  await engine.stop();
  await h.close();
  await sink.close();
});

const batch = (items: unknown, headers: Record<string, string> = {}) =>
  h.request({ method: 'POST', url: '/v1/notifications/batch', headers, payload: items === undefined ? undefined : { items } });
const count = async (sql: string, params: unknown[] = []) => (await h.db.pool.query<{ n: number }>(sql, params)).rows[0]!.n;

test('a batch answers one result per item in request order; invalid items are reported with the single POST’s codes and not created', async () => {
  await h.request({ method: 'POST', url: '/v1/users/b-1/devices', payload: { platform: 'ios', token: IOS_TOKEN } });
  const later = new Date(Date.now() + 3_600_000).toISOString();
  const items = [
    { to: { userId: 'b-1' }, title: 'first', channels: ['push', 'inbox'] },
    { to: { userId: 'b-2' }, title: 'bad', colour: 'red' },
    { to: { userIds: ['b-3', 'b-4'] }, title: 'many', channels: ['webhook'], sendAt: later },
    42,
    { to: { device: { platform: 'ios', token: 'not-hex' } }, title: 'raw' },
    { to: { device: { platform: 'ios', token: IOS_TOKEN } }, title: 'raw ok' },
    { to: { userId: 'b-5' }, template: { key: 'no-such-template' } },
    { to: { device: { platform: 'android', token: 'x' } }, channels: ['inbox'], title: 'raw inbox' },
  ];
  const res = await batch(items);
  assert.equal(res.statusCode, 200, res.body);
  const out = res.json().items as Array<Record<string, any>>;
  assert.equal(out.length, items.length);
  assert.equal(out[0]!.status, 'pending');
  assert.equal(out[1]!.error.code, 'VALIDATION_FAILED');
  assert.deepEqual(out[1]!.error.details, [{ field: 'body.items.1.colour', message: 'unknown field "colour"' }]);
  assert.equal(out[2]!.status, 'scheduled');
  assert.equal(out[2]!.sendAt, later);
  assert.equal(out[3]!.error.code, 'VALIDATION_FAILED');
  assert.equal(out[3]!.error.details[0].field, 'body.items.3');
  assert.equal(out[4]!.error.code, 'VALIDATION_FAILED');
  assert.equal(out[4]!.error.details[0].field, 'body.items.4.to.device.token');
  assert.equal(out[5]!.status, 'pending');
  assert.equal(out[6]!.error.code, 'UNKNOWN_TEMPLATE');
  assert.equal(out[7]!.error.code, 'UNPROCESSABLE');

  // The single POST answers the same codes for the same bodies.
  for (const i of [1, 4, 6, 7]) {
    const single = await h.request({ method: 'POST', url: '/v1/notifications', payload: items[i] as object });
    assert.equal(single.json().error.code, out[i]!.error.code, `item ${i}: ${single.body}`);
  }

  const created = out.filter((r) => r.id).map((r) => r.id as string);
  assert.equal(created.length, 3);
  assert.equal(await count(`SELECT count(*)::int AS n FROM notifications WHERE id = ANY ($1)`, [created]), 3);
  assert.equal(await count(`SELECT count(*)::int AS n FROM notifications WHERE 'b-2' = ANY (user_ids) OR 'b-5' = ANY (user_ids)`), 0);
  // Fan-out: b-1's device and inbox; b-3 and b-4 a webhook each; the raw device one push.
  assert.equal(await count(`SELECT count(*)::int AS n FROM deliveries WHERE notification_id = $1`, [created[0]]), 2);
  assert.equal(await count(`SELECT count(*)::int AS n FROM deliveries WHERE notification_id = $1 AND channel = 'webhook'`, [created[1]]), 2);
  assert.equal(await count(`SELECT count(*)::int AS n FROM deliveries WHERE notification_id = $1 AND provider = 'apns' AND user_id IS NULL`, [created[2]]), 1);

  // One notification:created event per recipient (none for a raw device's user), with the delivery count.
  const { rows: events } = await h.db.pool.query<{ user_id: string | null; item_id: string; data: Record<string, unknown> }>(
    `SELECT user_id, item_id, data FROM events WHERE type = 'notification:created' AND item_id = ANY ($1) ORDER BY array_position($1::text[], item_id), user_id`,
    [created],
  );
  assert.deepEqual(events.map((e) => [e.item_id, e.user_id]), [[created[0], 'b-1'], [created[1], 'b-3'], [created[1], 'b-4'], [created[2], null]]);
  assert.deepEqual(events[0]!.data, { sendAt: out[0]!.sendAt, channels: ['push', 'inbox'], source: 'api', deliveries: 2 });
  assert.equal(events[1]!.data.deliveries, 2);
  assert.equal(events[1]!.data.sendAt, later);

  // Everything due now is delivered.
  await eventually(async () => {
    const n = await count(`SELECT count(*)::int AS n FROM deliveries WHERE notification_id = ANY ($1) AND status = 'sent'`, [[created[0], created[2]]]);
    return n === 3 || undefined;
  }, 15_000, 'the batch’s due deliveries to be sent');
});

test('every notification of a full batch of 1,000 is created and delivered', async () => {
  const items = Array.from({ length: 1000 }, (_, i) => ({ to: { userId: `full-${i % 100}` }, title: `n${i}`, channels: ['webhook'] }));
  const res = await batch(items);
  assert.equal(res.statusCode, 200, res.body);
  const ids = (res.json().items as Array<{ id: string }>).map((r) => r.id);
  assert.equal(new Set(ids).size, 1000);
  assert.deepEqual([...ids].sort(), ids, 'the ids sort in item order');
  const listed = await h.request({ method: 'GET', url: '/v1/users/full-7/notifications?limit=20' });
  assert.deepEqual(listed.json().items.map((n: { title: string }) => n.title), Array.from({ length: 10 }, (_, k) => `n${907 - k * 100}`), 'newest first is the batch backwards');
  assert.equal(await count(`SELECT count(*)::int AS n FROM events WHERE type = 'notification:created' AND item_id = ANY ($1)`, [ids]), 1000);
  await eventually(async () => {
    const n = await count(`SELECT count(*)::int AS n FROM deliveries WHERE notification_id = ANY ($1) AND status = 'sent'`, [ids]);
    return n === 1000 || undefined;
  }, 60_000, 'all 1,000 webhooks to be sent');
  const received = new Set(sink.received.map((r) => String(r.json.notificationId)));
  assert.ok(ids.every((id) => received.has(id)), 'the sink received every notification');
});

test('Idempotency-Key applies to the whole batch: a replay answers the first response and creates nothing', async () => {
  const items = [{ to: { userId: 'idem-b' }, title: 'once', channels: ['inbox'] }, { to: { userId: 'idem-b' }, nope: 1 }];
  const first = await batch(items, { 'Idempotency-Key': 'batch-1' });
  assert.equal(first.statusCode, 200, first.body);
  const again = await batch(items, { 'Idempotency-Key': 'batch-1' });
  assert.equal(again.statusCode, 200);
  assert.equal(again.body, first.body);
  assert.equal(again.headers['idempotent-replayed'], 'true');
  assert.equal(await count(`SELECT count(*)::int AS n FROM notifications WHERE 'idem-b' = ANY (user_ids)`), 1);
  const other = await batch([items[0]], { 'Idempotency-Key': 'batch-1' });
  assert.equal(other.statusCode, 422);
  assert.equal(other.json().error.code, 'IDEMPOTENCY_KEY_REUSED');
});

test('a batch that is not an object with 1 to 1,000 items is a 400 and creates nothing', async () => {
  const before = await count(`SELECT count(*)::int AS n FROM notifications`);
  const tooMany = Array.from({ length: 1001 }, () => ({ to: { userId: 'over' }, title: 'x' }));
  for (const payload of [{ items: [] }, { items: tooMany }, { items: 'x' }, {}, [1, 2], { items: [{ to: { userId: 'u' } }], extra: true }]) {
    const res = await h.request({ method: 'POST', url: '/v1/notifications/batch', payload: payload as object });
    assert.equal(res.statusCode, 400, `${JSON.stringify(payload).slice(0, 80)}: ${res.body}`);
    assert.equal(res.json().error.code, 'VALIDATION_FAILED');
  }
  const notJson = await h.request({ method: 'POST', url: '/v1/notifications/batch', headers: { 'content-type': 'application/json' }, payload: '{"items": [' });
  assert.equal(notJson.statusCode, 400);
  assert.equal(notJson.json().error.code, 'VALIDATION_FAILED');
  assert.equal(await count(`SELECT count(*)::int AS n FROM notifications`), before);
});

test('a batch whose items are all invalid creates nothing and still answers 200 with each error', async () => {
  const res = await batch([{ to: {} }, { title: 'no target' }]);
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json().items.map((r: { error: { code: string } }) => r.error.code), ['VALIDATION_FAILED', 'VALIDATION_FAILED']);
});

test('after a batch commits, the workers and the event relay are woken (NOTIFY outside the writing transaction)', async () => {
  const listener = await h.db.pool.connect();
  const heard: string[] = [];
  try {
    listener.on('notification', (m) => heard.push(m.channel));
    await listener.query('LISTEN herald_events');
    await listener.query('LISTEN herald_deliveries');
    const res = await batch([{ to: { userId: 'wake-1' }, title: 'wake', channels: ['inbox'] }]);
    assert.equal(res.statusCode, 200, res.body);
    await eventually(async () => (heard.includes('herald_events') && heard.includes('herald_deliveries')) || undefined, 5_000, 'both wake-ups');
  } finally {
    await listener.query('UNLISTEN *');
    listener.release();
  }
});
