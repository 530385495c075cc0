import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { eventually, startEngine, webhookSink, type RunningEngine } from './helpers/engine.ts';
import { asUser } from './helpers/user-token.ts';
import { timingRequests } from './helpers/timing.ts';
import { FcmChannel } from '../src/channels/fcm/index.ts';
import { FakeFcmServer } from './fakes/fcm-server.ts';

/**
 * Quiet hours (docs/timing.md): push and e-mail due inside a recipient's window wait for its end,
 * in their zone, across DST changes; inbox items are stored at once; critical notifications and
 * required types go through. Times are injected as each notification's sendAt (its due time),
 * never read from the wall clock, except in the one test where a real engine releases a delivery.
 */

let fake: FakeFcmServer;
let dir: string;
let h: TestHarness;
let engine: RunningEngine | undefined;

before(async () => {
  fake = await new FakeFcmServer().start();
  dir = await mkdtemp(path.join(tmpdir(), 'herald-quiet-'));
  const file = path.join(dir, 'service-account.json');
  await writeFile(file, JSON.stringify(fake.account));
  h = await createHarness({ HERALD_FCM_SERVICE_ACCOUNT_FILE: file, HERALD_FCM_URL: fake.url });
  assert.equal((await h.request({ method: 'PUT', url: '/v1/apps/default/notification-types/security', payload: { required: true } })).statusCode, 200);
});

after(async () => {
  await engine?.stop();
  await h.close();
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

const NIGHT = { start: '22:00', end: '07:00' };

async function user(id: string, body: object, devices = 1): Promise<void> {
  const res = await h.request({ method: 'PUT', url: `/v1/users/${id}`, payload: body });
  assert.equal(res.statusCode, 200, res.body);
  for (let i = 0; i < devices; i++) {
    const d = await h.request({ method: 'POST', url: `/v1/users/${id}/devices`, payload: { platform: 'android', token: `tok-${id}-${i}` } });
    assert.ok(d.statusCode === 200 || d.statusCode === 201, d.body);
  }
}

const { send, deliveries, timing } = timingRequests(() => h, { channels: ['push', 'inbox'] });

const quietEnd = async (quiet: object, zone: string, at: string): Promise<string | null> => {
  const { rows } = await h.db.pool.query<{ end: Date | null }>(`SELECT herald_quiet_end($1::jsonb, $2, $3::timestamptz) AS end`, [JSON.stringify(quiet), zone, at]);
  return rows[0]!.end?.toISOString() ?? null;
};

test('the window rule across midnight and on both sides of DST changes (Europe/Berlin, America/New_York)', async () => {
  // Berlin springs forward on 2027-03-28 at 02:00 CET → 03:00 CEST: 22:00–07:00 is 8 hours that night.
  assert.equal(await quietEnd(NIGHT, 'Europe/Berlin', '2027-03-27T21:00:00Z'), '2027-03-28T05:00:00.000Z'); // 22:00 CET, the window opens
  assert.equal(await quietEnd(NIGHT, 'Europe/Berlin', '2027-03-28T00:30:00Z'), '2027-03-28T05:00:00.000Z'); // 01:30 CET, before the change
  assert.equal(await quietEnd(NIGHT, 'Europe/Berlin', '2027-03-28T01:30:00Z'), '2027-03-28T05:00:00.000Z'); // 03:30 CEST, after it
  assert.equal(await quietEnd(NIGHT, 'Europe/Berlin', '2027-03-28T05:00:00Z'), null); // 07:00 CEST: the window has closed
  assert.equal(await quietEnd(NIGHT, 'Europe/Berlin', '2027-03-27T20:59:59Z'), null); // 21:59:59 CET: not yet open
  // Berlin falls back on 2027-10-31 at 03:00 CEST → 02:00 CET: 10 hours that night.
  assert.equal(await quietEnd(NIGHT, 'Europe/Berlin', '2027-10-30T20:00:00Z'), '2027-10-31T06:00:00.000Z'); // 22:00 CEST
  assert.equal(await quietEnd(NIGHT, 'Europe/Berlin', '2027-10-31T00:30:00Z'), '2027-10-31T06:00:00.000Z'); // 02:30 CEST, first pass
  assert.equal(await quietEnd(NIGHT, 'Europe/Berlin', '2027-10-31T01:30:00Z'), '2027-10-31T06:00:00.000Z'); // 02:30 CET, second pass
  assert.equal(await quietEnd(NIGHT, 'Europe/Berlin', '2027-10-31T05:59:59Z'), '2027-10-31T06:00:00.000Z');
  assert.equal(await quietEnd(NIGHT, 'Europe/Berlin', '2027-10-31T06:00:00Z'), null);
  // New York: spring forward 2027-03-14 02:00 EST → 03:00 EDT; fall back 2027-11-07 02:00 EDT → 01:00 EST.
  assert.equal(await quietEnd(NIGHT, 'America/New_York', '2027-03-14T06:30:00Z'), '2027-03-14T11:00:00.000Z'); // 01:30 EST → 07:00 EDT
  assert.equal(await quietEnd(NIGHT, 'America/New_York', '2027-03-14T07:30:00Z'), '2027-03-14T11:00:00.000Z'); // 03:30 EDT
  assert.equal(await quietEnd(NIGHT, 'America/New_York', '2027-11-07T05:30:00Z'), '2027-11-07T12:00:00.000Z'); // 01:30 EDT → 07:00 EST
  assert.equal(await quietEnd(NIGHT, 'America/New_York', '2027-11-07T06:30:00Z'), '2027-11-07T12:00:00.000Z'); // 01:30 EST
  assert.equal(await quietEnd(NIGHT, 'America/New_York', '2027-11-07T12:00:00Z'), null);
  // A window that ends in the skipped hour ends when the clocks say 03:30 (the time after the gap);
  // one that starts in the repeated hour starts at its second pass (standard time).
  assert.equal(await quietEnd({ start: '01:00', end: '02:30' }, 'America/New_York', '2027-03-14T06:30:00Z'), '2027-03-14T07:30:00.000Z');
  assert.equal(await quietEnd({ start: '01:30', end: '03:00' }, 'America/New_York', '2027-11-07T05:45:00Z'), null); // 01:45 EDT: first pass, not yet
  assert.equal(await quietEnd({ start: '01:30', end: '03:00' }, 'America/New_York', '2027-11-07T06:45:00Z'), '2027-11-07T08:00:00.000Z'); // 01:45 EST
  // A daytime window, and `days` naming the days a window starts on (2027-03-27 is a Saturday).
  assert.equal(await quietEnd({ start: '09:00', end: '17:00' }, 'UTC', '2027-03-24T16:59:59Z'), '2027-03-24T17:00:00.000Z');
  assert.equal(await quietEnd({ ...NIGHT, days: ['SA'] }, 'Europe/Berlin', '2027-03-28T00:30:00Z'), '2027-03-28T05:00:00.000Z');
  assert.equal(await quietEnd({ ...NIGHT, days: ['FR', 'SU'] }, 'Europe/Berlin', '2027-03-28T00:30:00Z'), null);
  assert.equal(await quietEnd({ ...NIGHT, days: ['SA'] }, 'Europe/Berlin', '2027-03-28T21:30:00Z'), null); // Sunday 23:30: no window starts on Sunday
});

test('push waits for the end of the user’s window, in their zone, across DST; the inbox item is stored at once', async () => {
  await user('qh-berlin', { timezone: 'Europe/Berlin', quietHours: NIGHT });
  await user('qh-ny', { timezone: 'America/New_York', quietHours: NIGHT });

  // Berlin, the spring-forward night: before the change and after it, both to 07:00 CEST.
  for (const at of ['2027-03-28T00:30:00.000Z', '2027-03-28T01:30:00.000Z']) {
    assert.deepEqual(await timing(await send({ to: { userId: 'qh-berlin' }, sendAt: at })), {
      push: ['2027-03-28T05:00:00.000Z', 'quiet-hours'],
      inbox: [at, null],
    });
  }
  // Released: due at the window's end, nothing is deferred.
  assert.deepEqual(await timing(await send({ to: { userId: 'qh-berlin' }, sendAt: '2027-03-28T05:00:00Z' })), {
    push: ['2027-03-28T05:00:00.000Z', null],
    inbox: ['2027-03-28T05:00:00.000Z', null],
  });
  // New York, the fall-back night: 01:30 EDT and 01:30 EST both wait for 07:00 EST.
  for (const at of ['2027-11-07T05:30:00.000Z', '2027-11-07T06:30:00.000Z']) {
    assert.deepEqual(await timing(await send({ to: { userId: 'qh-ny' }, sendAt: at })), {
      push: ['2027-11-07T12:00:00.000Z', 'quiet-hours'],
      inbox: [at, null],
    });
  }
  assert.deepEqual(await timing(await send({ to: { userId: 'qh-ny' }, sendAt: '2027-11-07T12:00:00Z' })), {
    push: ['2027-11-07T12:00:00.000Z', null],
    inbox: ['2027-11-07T12:00:00.000Z', null],
  });
  // E-mail waits too; a webhook does not (it reaches the application, not a person). The TTL
  // moves with the deferred delivery.
  await h.request({ method: 'PUT', url: '/v1/users/qh-berlin', payload: { timezone: 'Europe/Berlin', quietHours: NIGHT, email: 'qh@example.com' } });
  const mail = await send({ to: { userId: 'qh-berlin' }, sendAt: '2027-03-28T00:30:00Z', channels: ['email', 'webhook'], ttlSeconds: 3600 });
  assert.deepEqual(await timing(mail), { email: ['2027-03-28T05:00:00.000Z', 'quiet-hours'], webhook: ['2027-03-28T00:30:00.000Z', null] });
  const { rows } = await h.db.pool.query(`SELECT channel, expires_at FROM deliveries WHERE notification_id = $1 ORDER BY channel`, [mail]);
  assert.deepEqual(rows.map((r) => [r.channel, r.expires_at.toISOString()]), [['email', '2027-03-28T06:00:00.000Z'], ['webhook', '2027-03-28T01:30:00.000Z']]);
});

test('critical notifications and required types go through quiet hours', async () => {
  await user('qh-crit', { timezone: 'Europe/Berlin', quietHours: NIGHT });
  const at = '2027-03-28T00:30:00.000Z';
  assert.deepEqual(await timing(await send({ to: { userId: 'qh-crit' }, sendAt: at, priority: 'critical' })), { push: [at, null], inbox: [at, null] });
  assert.deepEqual(await timing(await send({ to: { userId: 'qh-crit' }, sendAt: at, type: 'security' })), { push: [at, null], inbox: [at, null] });
  assert.deepEqual(await timing(await send({ to: { userId: 'qh-crit' }, sendAt: at, priority: 'high' })), { push: ['2027-03-28T05:00:00.000Z', 'quiet-hours'], inbox: [at, null] });
  const { rows } = await h.db.pool.query(`SELECT priority, count(*)::int AS n FROM notifications WHERE $1 = ANY (user_ids) GROUP BY priority ORDER BY priority NULLS LAST`, ['qh-crit']);
  assert.deepEqual(rows.map((r) => [r.priority, r.n]), [['critical', 1], ['high', 1], [null, 1]]);
});

test('the app’s quiet hours and zone are the default; a user’s own replace them; null clears', async () => {
  const app = await h.request({ method: 'PUT', url: '/v1/apps/qh-app', payload: { name: 'Quiet app', defaultTimezone: 'Asia/Tokyo', quietHours: { start: '21:00', end: '08:00', days: ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'] } } });
  assert.equal(app.statusCode, 200, app.body);
  assert.equal(app.json().defaultTimezone, 'Asia/Tokyo');
  assert.deepEqual(app.json().quietHours, { start: '21:00', end: '08:00', days: ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'] });
  await user('qh-plain', {}, 0);
  await user('qh-own', { timezone: 'Europe/Berlin', quietHours: { start: '23:00', end: '06:00' } }, 0);
  const at = '2027-01-04T13:00:00.000Z'; // 22:00 in Tokyo, 14:00 in Berlin
  const id = await send({ to: { userIds: ['qh-plain', 'qh-own'] }, appId: 'qh-app', channels: ['email'], sendAt: at });
  const byUser = Object.fromEntries((await deliveries(id)).map((d) => [d.userId, [d.dueAt, d.deferredBy]]));
  assert.deepEqual(byUser, { 'qh-plain': ['2027-01-04T23:00:00.000Z', 'quiet-hours'], 'qh-own': [at, null] });
  // The same users through the batch statement: the same rule.
  const batch = await h.request({ method: 'POST', url: '/v1/notifications/batch', payload: { items: [{ to: { userId: 'qh-plain' }, appId: 'qh-app', channels: ['email'], sendAt: at, title: 'b' }] } });
  assert.equal(batch.statusCode, 200, batch.body);
  assert.deepEqual(await timing(batch.json().items[0].id), { email: ['2027-01-04T23:00:00.000Z', 'quiet-hours'] });

  // A user clears their own quiet hours (PUT /v1/me, null): the app's apply again, in their zone.
  const me = await h.app.inject({ method: 'PUT', url: '/v1/me', headers: await asUser('qh-own'), payload: { timezone: 'Europe/Berlin', quietHours: null } });
  assert.equal(me.statusCode, 200, me.body);
  assert.equal(me.json().quietHours, null);
  const later = await send({ to: { userId: 'qh-own' }, appId: 'qh-app', channels: ['email'], sendAt: '2027-01-04T21:00:00Z' }); // 22:00 in Berlin
  assert.deepEqual(await timing(later), { email: ['2027-01-05T07:00:00.000Z', 'quiet-hours'] });
  // And sets them again themselves.
  const set = await h.app.inject({ method: 'PUT', url: '/v1/me', headers: await asUser('qh-own'), payload: { timezone: 'Europe/Berlin', quietHours: { start: '12:00', end: '13:00:30' } } });
  assert.equal(set.statusCode, 200, set.body);
  assert.deepEqual(set.json().quietHours, { start: '12:00', end: '13:00:30' });
  assert.deepEqual(await timing(await send({ to: { userId: 'qh-own' }, appId: 'qh-app', channels: ['email'], sendAt: '2027-01-04T11:30:00Z' })), { email: ['2027-01-04T12:00:30.000Z', 'quiet-hours'] });
});

test('invalid windows and unknown zones answer 4xx naming the field and store nothing', async () => {
  await user('qh-valid', { timezone: 'Europe/Berlin', quietHours: NIGHT }, 0);
  const cases: Array<[string, object, number, string, string]> = [
    ['/v1/users/qh-valid', { quietHours: { start: '25:00', end: '07:00' } }, 400, 'VALIDATION_FAILED', 'body.quietHours.start'],
    ['/v1/users/qh-valid', { quietHours: { start: '22:00' } }, 400, 'VALIDATION_FAILED', 'body.quietHours.end'],
    ['/v1/users/qh-valid', { quietHours: { start: '22:00', end: '07:00', days: ['XX'] } }, 400, 'VALIDATION_FAILED', 'body.quietHours.days.0'],
    ['/v1/users/qh-valid', { quietHours: { start: '22:00', end: '22:00' } }, 422, 'UNPROCESSABLE', 'body.quietHours.end'],
    ['/v1/users/qh-valid', { timezone: 'Mars/Olympus_Mons', quietHours: NIGHT }, 422, 'INVALID_TIMEZONE', 'body.timezone'],
    ['/v1/apps/qh-bad', { name: 'x', defaultTimezone: 'Mars/Olympus_Mons' }, 422, 'INVALID_TIMEZONE', 'body.defaultTimezone'],
    ['/v1/apps/qh-bad', { name: 'x', quietHours: { start: '7:00', end: '08:00' } }, 400, 'VALIDATION_FAILED', 'body.quietHours.start'],
    ['/v1/apps/qh-bad', { name: 'x', quietHours: { start: '07:00', end: '07:00:00' } }, 422, 'UNPROCESSABLE', 'body.quietHours.end'],
  ];
  for (const [url, payload, status, code, field] of cases) {
    const res = await h.request({ method: 'PUT', url, payload });
    assert.equal(res.statusCode, status, `${url} ${JSON.stringify(payload)}: ${res.body}`);
    const err = res.json().error;
    assert.equal(err.code, code);
    assert.ok(err.details.some((d: { field: string }) => d.field === field), `${field} in ${JSON.stringify(err.details)}`);
  }
  const kept = (await h.request({ url: '/v1/users/qh-valid' })).json();
  assert.deepEqual([kept.timezone, kept.quietHours], ['Europe/Berlin', NIGHT]);
  assert.equal((await h.request({ url: '/v1/apps/qh-bad' })).statusCode, 404);
});

test('a deferred push is released by the engine when the window ends; the inbox item was there all along', async () => {
  const fcm = new FcmChannel({ credentials: h.services.credentials, log: h.ctx.log, metrics: h.ctx.metrics }, { ca: fake.certificate.ca });
  engine = await startEngine(h, [fcm]);
  // A window in UTC from a minute ago to 3 s from now (seconds are allowed for exactly this).
  const clock = (d: Date) => d.toISOString().slice(11, 19);
  const end = new Date(Math.ceil((Date.now() + 3000) / 1000) * 1000);
  await user('qh-live', { quietHours: { start: clock(new Date(end.getTime() - 63_000)), end: clock(end) } });
  const id = await send({ to: { userId: 'qh-live' }, title: 'After the quiet' });

  const before = await deliveries(id);
  const push = before.find((d) => d.channel === 'push')!;
  assert.equal(push.dueAt, end.toISOString());
  assert.equal(push.deferredBy, 'quiet-hours');
  // The inbox item is stored at once, while the push waits.
  const inbox = await eventually(async () => (await deliveries(id)).find((d) => d.channel === 'inbox' && d.status === 'sent'), 10_000, 'the inbox item');
  assert.ok(Date.parse(inbox.sentAt!) < end.getTime(), `inbox sent ${inbox.sentAt}, window ends ${end.toISOString()}`);
  assert.equal((await deliveries(id)).find((d) => d.channel === 'push')!.status, 'pending');
  assert.equal(fake.received.filter((r) => r.message.token === 'tok-qh-live-0').length, 0);

  const sent = await eventually(async () => (await deliveries(id)).find((d) => d.channel === 'push' && d.status === 'sent'), 15_000, 'the push after the window');
  assert.ok(Date.parse(sent.sentAt!) >= end.getTime(), `push sent ${sent.sentAt}, window ends ${end.toISOString()}`);
  const got = fake.received.filter((r) => r.message.token === 'tok-qh-live-0');
  assert.equal(got.length, 1);
  assert.deepEqual((got[0]!.message as { notification: unknown }).notification, { title: 'After the quiet' });

  // Inside a new window, a critical push goes at once, as a high-priority message.
  await user('qh-live', { quietHours: { start: clock(new Date(Date.now() - 60_000)), end: clock(new Date(Date.now() + 600_000)) } }, 0);
  const critical = await send({ to: { userId: 'qh-live' }, title: 'Breach', priority: 'critical', channels: ['push'] });
  await eventually(async () => (await deliveries(critical)).every((d) => d.status === 'sent' && d.deferredBy === null), 10_000, 'the critical push');
  const urgent = fake.received.filter((r) => r.message.token === 'tok-qh-live-0').at(-1)!.message as { notification: unknown; android: { priority: string } };
  assert.deepEqual(urgent.notification, { title: 'Breach' });
  assert.equal(urgent.android.priority, 'HIGH');
});

test('a fallback step brought forward by a failure still waits out the quiet hours', async () => {
  const sink = await webhookSink(() => 400);
  try {
    assert.equal((await h.request({ method: 'PUT', url: '/v1/apps/qh-hook', payload: { name: 'Hooks', webhook: { url: sink.url } } })).statusCode, 200);
    const clock = (d: Date) => d.toISOString().slice(11, 19);
    const end = new Date(Math.ceil((Date.now() + 600_000) / 1000) * 1000);
    await user('qh-chain', { email: 'chain@example.com', quietHours: { start: clock(new Date(Date.now() - 60_000)), end: clock(end) } }, 0);
    // The webhook (not held by quiet hours) fails at once; the e-mail, due in an hour, is brought
    // forward — to the window's end, not into the quiet hours.
    const id = await send({ to: { userId: 'qh-chain' }, appId: 'qh-hook', channels: undefined, steps: [{ channels: ['webhook'] }, { after: '1h', channels: ['email'] }] });
    const mail = await eventually(async () => {
      const all = await deliveries(id);
      return all.find((d) => d.channel === 'webhook')?.status === 'failed' ? all.find((d) => d.channel === 'email') : undefined;
    }, 10_000, 'the webhook to fail');
    assert.equal(mail!.status, 'pending');
    assert.equal(mail!.dueAt, end.toISOString());
    assert.equal(mail!.deferredBy, 'quiet-hours');
  } finally {
    await sink.close();
  }
});
