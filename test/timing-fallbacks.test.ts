/**
 * Fallback chains end to end (docs/timing.md § Fallback chains): POST /v1/notifications with
 * `steps` → the first step through the engine to the fake APNs server, the later step's e-mail
 * to a real SMTP server in-process, on real PostgreSQL. A failed push brings the e-mail forward;
 * a delivered push or a read inbox item cancels it; a step that comes due unstopped is sent.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { eventually, startEngine, type RunningEngine } from './helpers/engine.ts';
import { createTestPki, startFakeApns, type FakeApns, type FakeAction, type TestPki } from './fakes/apns-server.ts';
import { createApnsChannel } from '../src/channels/apns/index.ts';
import { createEmailChannel } from '../src/channels/email/index.ts';
import { parseDuration, formatDuration } from '../src/core/duration.ts';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.ts';

const BUNDLE = 'com.example.fallbacks';

let pki: TestPki;
let apns: FakeApns;
let smtp: SmtpSink;
let h: TestHarness;
let engine: RunningEngine;
/** APNs answers per device token (default 200). */
const answers = new Map<string, FakeAction[]>();

before(async () => {
  pki = createTestPki();
  apns = await startFakeApns({ pki, auth: 'token', bundleId: BUNDLE });
  apns.script = (r) => answers.get(r.token)?.shift();
  smtp = await startSmtpSink();
  h = await createHarness({
    HERALD_APNS_KEY_FILE: path.join(pki.dir, 'token.p8'),
    HERALD_APNS_KEY_ID: 'KEYID12345',
    HERALD_APNS_TEAM_ID: 'TEAMID1234',
    HERALD_APNS_BUNDLE_ID: BUNDLE,
    HERALD_APNS_URL: apns.origin,
    HERALD_SMTP_URL: smtp.url,
    HERALD_EMAIL_FROM: 'Herald <no-reply@herald.example>',
  });
  const deps = { config: h.ctx.config, log: h.ctx.log, metrics: h.ctx.metrics, credentials: h.services.credentials };
  engine = await startEngine(h, [createApnsChannel(deps, { ca: pki.ca }), createEmailChannel(deps)]);
});

after(async () => {
  await engine.stop();
  await h.close();
  await apns.close();
  await smtp.close();
  pki.cleanup();
});

interface DeliveryView { id: string; channel: string; provider: string; status: string; step: number; dueAt: string; lastError?: string }
interface StepView { channels: string[]; after?: string; unless?: string; status: string; counts: Record<string, number> }
interface NotificationView { id: string; status: string; channels: string[]; steps?: StepView[]; deliveries: DeliveryView[] }

/** A user with an e-mail address and, unless `device` is false, an iOS device; returns its token. */
async function user(id: string, device = true): Promise<string> {
  const res = await h.request({ method: 'PUT', url: `/v1/users/${id}`, payload: { email: `${id}@example.org` } });
  assert.equal(res.statusCode, 200, res.body);
  const token = randomBytes(32).toString('hex');
  if (device) {
    const reg = await h.request({ method: 'POST', url: `/v1/users/${id}/devices`, payload: { platform: 'ios', token } });
    assert.ok(reg.statusCode < 300, reg.body);
  }
  return token;
}

async function notify(body: Record<string, unknown>): Promise<string> {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: body });
  assert.equal(res.statusCode, 202, res.body);
  return res.json().id as string;
}

const get = async (id: string) => (await h.request({ url: `/v1/notifications/${id}` })).json() as NotificationView;

/** The notification once no delivery of it is pending or being sent. */
function settled(id: string, timeoutMs = 20_000): Promise<NotificationView> {
  return eventually(async () => {
    const n = await get(id);
    return n.deliveries.length > 0 && n.deliveries.every((d) => !['pending', 'sending'].includes(d.status)) ? n : undefined;
  }, timeoutMs, `notification ${id} to settle`);
}

const mailsTo = (address: string) => smtp.received.filter((m) => (m.to as { value: Array<{ address: string }> }).value.some((v) => v.address === address));

async function eventsOf(userId: string, notificationId: string): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
  const res = await h.request({ url: `/v1/users/${userId}/events?limit=100` });
  return (res.json().items as Array<{ type: string; itemId: string; data: Record<string, unknown> }>).filter((e) => e.itemId === notificationId);
}

test('durations: "30s", "15m", "1h", "1d" and nothing looser', () => {
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1d'), 86_400_000);
  for (const bad of ['1.5h', '-2m', '15', 'm', '15 m', '400d', '15M']) assert.equal(parseDuration(bad), undefined, bad);
  assert.equal(formatDuration(5_400_000), '90m');
  assert.equal(formatDuration(172_800_000), '2d');
});

test('a failed push brings the fallback e-mail forward: it is sent long before its hour', async () => {
  const token = await user('fb-failed');
  answers.set(token, [{ status: 410, reason: 'Unregistered', timestamp: Date.now() }]);
  const id = await notify({ to: { userId: 'fb-failed' }, steps: [{ channels: ['push'] }, { after: '1h', channels: ['email'] }], title: 'Your code', body: '123456' });
  const n = await settled(id);
  const push = n.deliveries.find((d) => d.channel === 'push')!;
  const email = n.deliveries.find((d) => d.channel === 'email')!;
  assert.equal(push.status, 'failed');
  assert.equal(push.step, 0);
  assert.equal(email.status, 'sent', 'the e-mail went out once the push had failed for good');
  assert.equal(email.step, 1);
  assert.equal(n.status, 'partial');
  assert.deepEqual(n.channels, ['push']);
  assert.deepEqual(n.steps!.map((s) => [s.channels, s.after, s.unless, s.status]), [[['push'], undefined, undefined, 'failed'], [['email'], '1h', 'delivered', 'sent']]);
  assert.equal(n.steps![1]!.counts.sent, 1);
  const mails = await eventually(async () => (mailsTo('fb-failed@example.org').length ? mailsTo('fb-failed@example.org') : undefined), 5_000, 'the fallback e-mail');
  assert.equal(mails[0]!.subject, 'Your code');
  assert.equal(mails[0]!.headers.get('x-herald-notification-id'), id);
  const types = (await eventsOf('fb-failed', id)).map((e) => e.type);
  assert.ok(types.includes('notification:step-fired'), types.join());
});

test('a later step comes due at its time and goes out when nothing earlier reached the user', async () => {
  await user('fb-nodevice', false);
  const started = Date.now();
  const id = await notify({ to: { userId: 'fb-nodevice' }, steps: [{ channels: ['push'] }, { after: '2s', channels: ['email'] }], title: 'Hello' });
  const n = await settled(id);
  const email = n.deliveries.find((d) => d.channel === 'email')!;
  assert.equal(email.status, 'sent');
  assert.ok(Date.parse(email.dueAt) - started >= 1_900, 'due two seconds after the notification');
  assert.ok(Date.now() - started >= 2_000, 'not sent before its time');
  assert.equal(n.steps![0]!.status, 'none', 'no device: the first step had nothing to deliver');
  const fired = (await eventsOf('fb-nodevice', id)).find((e) => e.type === 'notification:step-fired');
  assert.deepEqual(fired?.data, { deliveryId: email.id, step: 1, channel: 'email', provider: 'email' });
});

test('a delivered push cancels the waiting e-mail (unless "delivered"), with an event', async () => {
  await user('fb-delivered');
  const id = await notify({ to: { userId: 'fb-delivered' }, steps: [{ channels: ['push'] }, { after: '3s', channels: ['email'], unless: 'delivered' }], title: 'Ping' });
  const n = await eventually(async () => {
    const v = await get(id);
    return v.deliveries.every((d) => d.status !== 'pending' && d.status !== 'sending') ? v : undefined;
  }, 2_500, 'the push sent and the e-mail cancelled before the e-mail was due');
  const email = n.deliveries.find((d) => d.channel === 'email')!;
  assert.equal(email.status, 'cancelled');
  assert.equal(email.lastError, 'not sent: an earlier step was delivered');
  assert.equal(n.status, 'sent');
  assert.deepEqual(n.steps!.map((s) => s.status), ['sent', 'cancelled']);
  await new Promise((r) => setTimeout(r, 3_500));
  assert.equal(mailsTo('fb-delivered@example.org').length, 0, 'no e-mail after the step\'s time either');
  const cancelled = (await eventsOf('fb-delivered', id)).find((e) => e.type === 'notification:step-cancelled');
  assert.deepEqual(cancelled?.data, { deliveryId: email.id, step: 1, channel: 'email', provider: 'email', reason: 'delivered' });
});

test('reading the inbox item in time cancels the e-mail (unless "read"); a delivered push does not', async () => {
  await user('fb-read');
  const id = await notify({ to: { userId: 'fb-read' }, steps: [{ channels: ['push', 'inbox'] }, { after: '4s', channels: ['email'], unless: 'read' }], title: 'New message' });
  const item = await eventually(async () => {
    const items = (await h.request({ url: '/v1/users/fb-read/inbox' })).json().items as Array<{ id: string; notificationId: string }>;
    return items.find((i) => i.notificationId === id);
  }, 3_000, 'the inbox item');
  const before = await eventually(async () => {
    const v = await get(id);
    return v.steps![0]!.status === 'sent' ? v : undefined;
  }, 3_000, 'the first step sent');
  assert.equal(before.deliveries.find((d) => d.channel === 'email')!.status, 'pending', 'a delivered push does not stop a step that waits for a read');
  const read = await h.request({ method: 'POST', url: `/v1/users/fb-read/inbox/${item.id}/read` });
  assert.equal(read.statusCode, 200, read.body);
  const email = (await get(id)).deliveries.find((d) => d.channel === 'email')!;
  assert.equal(email.status, 'cancelled', 'cancelled by the read itself');
  assert.equal(email.lastError, 'not sent: the inbox item was read');
  await new Promise((r) => setTimeout(r, 4_500));
  assert.equal(mailsTo('fb-read@example.org').length, 0);
  assert.deepEqual((await get(id)).steps!.map((s) => s.status), ['sent', 'cancelled']);
  const cancelled = (await eventsOf('fb-read', id)).find((e) => e.type === 'notification:step-cancelled');
  assert.equal(cancelled?.data.reason, 'read');
});

test('an unread inbox item lets the e-mail go at its time', async () => {
  await user('fb-unread');
  const id = await notify({ to: { userId: 'fb-unread' }, steps: [{ channels: ['push', 'inbox'] }, { after: '2s', channels: ['email'], unless: 'read' }], title: 'Still there?' });
  const n = await settled(id);
  assert.deepEqual(n.deliveries.map((d) => [d.channel, d.step, d.status]).sort(), [['email', 1, 'sent'], ['inbox', 0, 'sent'], ['push', 0, 'sent']]);
  await eventually(async () => mailsTo('fb-unread@example.org').length === 1, 5_000, 'the e-mail');
});

test('the engine checks a step when it is claimed: an item read behind the read path\'s back still stops the e-mail', async () => {
  await user('fb-net', false);
  const id = await notify({ to: { userId: 'fb-net' }, steps: [{ channels: ['inbox'] }, { after: '2s', channels: ['email'], unless: 'read' }], title: 'Net' });
  await eventually(async () => {
    const { rowCount } = await h.db.pool.query(`UPDATE inbox_items SET read_at = now() WHERE notification_id = $1`, [id]);
    return rowCount === 1;
  }, 3_000, 'the inbox item, marked read directly');
  const n = await settled(id);
  const email = n.deliveries.find((d) => d.channel === 'email')!;
  assert.equal(email.status, 'cancelled');
  assert.equal(email.lastError, 'not sent: the inbox item was read');
  assert.equal(mailsTo('fb-net@example.org').length, 0);
  const cancelled = (await eventsOf('fb-net', id)).find((e) => e.type === 'notification:step-cancelled');
  assert.deepEqual(cancelled?.data, { deliveryId: email.id, step: 1, channel: 'email', provider: 'email', reason: 'read' });
});

test('steps that break a rule answer 400 or 422 naming the field, and nothing is stored', async () => {
  const to = { userId: 'fb-bad' };
  const cases: Array<[unknown, number, string, string]> = [
    [[{ channels: ['push'] }, { after: '15m' }], 400, 'VALIDATION_FAILED', 'body.steps.1.channels'],
    [[{ channels: ['push'] }, { after: '15m', channels: [] }], 400, 'VALIDATION_FAILED', 'body.steps.1.channels'],
    [[{ channels: ['push'] }, { channels: ['email'] }], 422, 'INVALID_STEPS', 'body.steps.1.after'],
    [[{ channels: ['push'] }, { after: '0s', channels: ['email'] }], 422, 'INVALID_STEPS', 'body.steps.1.after'],
    [[{ channels: ['push'] }, { after: '15 minutes', channels: ['email'] }], 400, 'VALIDATION_FAILED', 'body.steps.1.after'],
    [[{ channels: ['push'] }, { after: '15m', channels: ['email'], unless: 'seen' }], 400, 'VALIDATION_FAILED', 'body.steps.1.unless'],
    [[{ channels: ['push'] }, { after: '15m', channels: ['email'], unless: 'read' }], 422, 'INVALID_STEPS', 'body.steps.1.unless'],
    [[{ channels: ['push'] }, { after: '15m', channels: ['push'] }], 422, 'INVALID_STEPS', 'body.steps.1.channels'],
    [[{ channels: ['push'], after: '1m' }, { after: '15m', channels: ['email'] }], 422, 'INVALID_STEPS', 'body.steps.0.after'],
    [[{ channels: ['push'] }, { after: '15m', channels: ['email'] }, { after: '5m', channels: ['webhook'] }], 422, 'INVALID_STEPS', 'body.steps.2.after'],
    [[], 400, 'VALIDATION_FAILED', 'body.steps'],
  ];
  const before = (await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM notifications`)).rows[0]!.n;
  for (const [steps, status, code, field] of cases) {
    const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to, steps, title: 'x' } });
    assert.equal(res.statusCode, status, `${JSON.stringify(steps)}: ${res.body}`);
    const error = res.json().error as { code: string; details: Array<{ field: string }> };
    assert.equal(error.code, code, JSON.stringify(steps));
    assert.equal(error.details[0]!.field, field, JSON.stringify(steps));
  }
  const both = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to, channels: ['push'], steps: [{ channels: ['push'] }], title: 'x' } });
  assert.equal(both.statusCode, 422, both.body);
  assert.equal(both.json().error.details[0].field, 'body.steps');
  await h.request({ method: 'PUT', url: '/v1/topics/fb-news', payload: {} });
  const broadcast = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { topic: 'fb-news' }, steps: [{ channels: ['push'] }, { after: '1m', channels: ['email'] }], title: 'x' } });
  assert.equal(broadcast.statusCode, 422, broadcast.body);
  assert.equal(broadcast.json().error.code, 'INVALID_STEPS');
  const after = (await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM notifications`)).rows[0]!.n;
  assert.equal(after, before);
});

test('a batch takes steps per item: a bad chain is that item\'s error, a good one gets its later step', async () => {
  await user('fb-batch', false);
  const res = await h.request({
    method: 'POST',
    url: '/v1/notifications/batch',
    payload: {
      items: [
        { to: { userId: 'fb-batch' }, steps: [{ channels: ['push'] }, { after: '1h', channels: ['email'] }, { after: '1d', channels: ['webhook'] }], title: 'ok' },
        { to: { userId: 'fb-batch' }, steps: [{ channels: ['push'] }, { channels: ['email'] }], title: 'bad' },
      ],
    },
  });
  assert.equal(res.statusCode, 200, res.body);
  const [ok, bad] = res.json().items as [{ id: string }, { error: { code: string; details: Array<{ field: string }> } }];
  assert.equal(bad.error.code, 'INVALID_STEPS');
  assert.equal(bad.error.details[0]!.field, 'body.items.1.steps.1.after');
  const n = await get(ok.id);
  const later = n.deliveries.filter((d) => d.step > 0).map((d) => [d.channel, d.step, d.status]);
  assert.deepEqual(later, [['email', 1, 'pending'], ['webhook', 2, 'pending']]);
  const due = n.deliveries.find((d) => d.step === 2)!.dueAt;
  const { rows } = await h.db.pool.query<{ send_at: Date }>(`SELECT send_at FROM notifications WHERE id = $1`, [ok.id]);
  assert.equal(Date.parse(due) - rows[0]!.send_at.getTime(), 86_400_000, 'a step is due `after` the notification\'s time');
  assert.equal(n.steps!.length, 3);
  assert.equal(n.steps![2]!.status, 'waiting');
  assert.equal((await h.request({ method: 'DELETE', url: `/v1/notifications/${ok.id}` })).statusCode, 204, 'cancelling the notification cancels its waiting steps');
  assert.ok((await get(ok.id)).deliveries.every((d) => d.status === 'cancelled'));
});

test('DELETE after the first step went out cancels the waiting steps, keeps what was sent, and records it; 409 once nothing waits', async () => {
  await user('fb-cancel');
  const id = await notify({ to: { userId: 'fb-cancel' }, steps: [{ channels: ['push', 'inbox'] }, { after: '1h', channels: ['email'], unless: 'read' }, { after: '2h', channels: ['webhook'], unless: 'read' }], title: 'Call me' });
  await eventually(async () => ((await get(id)).steps![0]!.status === 'sent' ? true : undefined), 5_000, 'the first step sent');
  const del = await h.request({ method: 'DELETE', url: `/v1/notifications/${id}` });
  assert.equal(del.statusCode, 204, del.body);
  assert.equal(del.body, '');
  const n = await get(id);
  assert.deepEqual(n.deliveries.map((d) => [d.channel, d.step, d.status]).sort(), [['email', 1, 'cancelled'], ['inbox', 0, 'sent'], ['push', 0, 'sent'], ['webhook', 2, 'cancelled']]);
  assert.equal(n.status, 'cancelled');
  assert.deepEqual(n.steps!.map((s) => s.status), ['sent', 'cancelled', 'cancelled']);
  const { rows } = await h.db.pool.query<{ status: string }>(`SELECT status FROM deliveries WHERE notification_id = $1 AND step > 0`, [id]);
  assert.ok(rows.length > 0 && rows.every((r) => r.status === 'cancelled'), 'no later-step delivery is left pending in the table');
  const cancelled = (await eventsOf('fb-cancel', id)).filter((e) => e.type === 'notification:cancelled');
  assert.deepEqual(cancelled.map((e) => e.data), [{ cancelledDeliveries: 2 }]);
  const again = await h.request({ method: 'DELETE', url: `/v1/notifications/${id}` });
  assert.equal(again.statusCode, 204, 'cancelling twice is a no-op');
  assert.equal((await eventsOf('fb-cancel', id)).filter((e) => e.type === 'notification:cancelled').length, 1);

  // Nothing left to cancel: the push was delivered, which stopped the e-mail step ("delivered").
  const done = await notify({ to: { userId: 'fb-cancel' }, steps: [{ channels: ['push'] }, { after: '1h', channels: ['email'] }], title: 'Done' });
  await settled(done);
  const late = await h.request({ method: 'DELETE', url: `/v1/notifications/${done}` });
  assert.equal(late.statusCode, 409, late.body);
  assert.equal(late.json().error.code, 'CONFLICT');
  const after = await get(done);
  assert.equal(after.status, 'sent', 'a refused cancel changes nothing');
  assert.equal((await eventsOf('fb-cancel', done)).filter((e) => e.type === 'notification:cancelled').length, 0);
});
