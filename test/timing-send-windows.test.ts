import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { asUser } from './helpers/user-token.ts';
import { timingRequests } from './helpers/timing.ts';

/**
 * Send windows (docs/timing.md § Send windows): push and e-mail go only inside the recipient's
 * window, in their zone; due outside it they wait for its next opening, quiet hours taken into
 * account; inbox items and webhooks go at once; critical notifications and required types go
 * through. Times are injected as each notification's sendAt (its due time), never read from the
 * wall clock. 2027-03-26 is a Friday; Berlin springs forward on 2027-03-28 and falls back on
 * 2027-10-31.
 */

let h: TestHarness;

before(async () => {
  h = await createHarness();
  assert.equal((await h.request({ method: 'PUT', url: '/v1/apps/default/notification-types/security', payload: { required: true } })).statusCode, 200);
});

after(async () => {
  await h.close();
});

const WEEKDAYS = { start: '08:00', end: '20:00', days: ['MO', 'TU', 'WE', 'TH', 'FR'] };

const windowNext = async (win: object, zone: string, at: string): Promise<string | null> => {
  const { rows } = await h.db.pool.query<{ at: Date | null }>(`SELECT herald_window_next($1::jsonb, $2, $3::timestamptz) AS at`, [JSON.stringify(win), zone, at]);
  return rows[0]!.at?.toISOString() ?? null;
};

const windowDue = async (quiet: object | null, win: object, zone: string, at: string): Promise<string> => {
  const { rows } = await h.db.pool.query<{ at: Date }>(`SELECT herald_window_due($1::jsonb, $2::jsonb, $3, $4::timestamptz) AS at`, [quiet && JSON.stringify(quiet), JSON.stringify(win), zone, at]);
  return rows[0]!.at.toISOString();
};

async function user(id: string, body: object): Promise<void> {
  const res = await h.request({ method: 'PUT', url: `/v1/users/${id}`, payload: { email: `${id}@example.com`, ...body } });
  assert.equal(res.statusCode, 200, res.body);
}

const { send, deliveries, timing } = timingRequests(() => h, { channels: ['email', 'inbox'] });

test('the window rule at explicit instants: after hours, the weekend, inside, across midnight and DST changes', async () => {
  // Friday 20:30 CET → Monday 08:00 — CEST by then: the clocks changed over the weekend.
  assert.equal(await windowNext(WEEKDAYS, 'Europe/Berlin', '2027-03-26T19:30:00Z'), '2027-03-29T06:00:00.000Z');
  // Saturday noon and Sunday evening → Monday 08:00.
  assert.equal(await windowNext(WEEKDAYS, 'Europe/Berlin', '2027-03-27T11:00:00Z'), '2027-03-29T06:00:00.000Z');
  assert.equal(await windowNext(WEEKDAYS, 'Europe/Berlin', '2027-03-28T19:00:00Z'), '2027-03-29T06:00:00.000Z');
  // Inside: unchanged, up to the last instant before the close; the close itself is outside.
  assert.equal(await windowNext(WEEKDAYS, 'Europe/Berlin', '2027-03-24T09:00:00Z'), '2027-03-24T09:00:00.000Z');
  assert.equal(await windowNext(WEEKDAYS, 'Europe/Berlin', '2027-03-26T18:59:59Z'), '2027-03-26T18:59:59.000Z');
  assert.equal(await windowNext(WEEKDAYS, 'Europe/Berlin', '2027-03-26T19:00:00Z'), '2027-03-29T06:00:00.000Z');
  // Before the morning's opening: that morning.
  assert.equal(await windowNext(WEEKDAYS, 'Europe/Berlin', '2027-03-25T06:00:00Z'), '2027-03-25T07:00:00.000Z');
  // Every day, across the spring-forward night (opens 08:00 CEST) and the fall-back one (08:00 CET).
  const DAILY = { start: '08:00', end: '20:00' };
  assert.equal(await windowNext(DAILY, 'Europe/Berlin', '2027-03-27T20:00:00Z'), '2027-03-28T06:00:00.000Z');
  assert.equal(await windowNext(DAILY, 'Europe/Berlin', '2027-10-30T19:00:00Z'), '2027-10-31T07:00:00.000Z');
  // An opening in the skipped hour is the time after the gap: 02:30 → 03:30 CEST.
  assert.equal(await windowNext({ start: '02:30', end: '04:00' }, 'Europe/Berlin', '2027-03-28T00:30:00Z'), '2027-03-28T01:30:00.000Z');
  // A window across midnight: open at 01:00 (it opened the day before), closed at 03:00.
  const NIGHT_SHIFT = { start: '22:00', end: '02:00' };
  assert.equal(await windowNext(NIGHT_SHIFT, 'UTC', '2027-03-24T01:00:00Z'), '2027-03-24T01:00:00.000Z');
  assert.equal(await windowNext(NIGHT_SHIFT, 'UTC', '2027-03-24T03:00:00Z'), '2027-03-24T22:00:00.000Z');
  // `days` are the days a window opens on: Friday's night shift still runs on Saturday at 01:00.
  assert.equal(await windowNext({ ...NIGHT_SHIFT, days: ['FR'] }, 'UTC', '2027-03-27T01:00:00Z'), '2027-03-27T01:00:00.000Z');
  assert.equal(await windowNext({ ...NIGHT_SHIFT, days: ['FR'] }, 'UTC', '2027-03-28T01:00:00Z'), '2027-04-02T22:00:00.000Z');
  // No usable window: no answer (the fan-out then leaves the time alone).
  assert.equal(await windowNext({ start: '08:00', end: '08:00' }, 'UTC', '2027-03-24T01:00:00Z'), null);
});

test('quiet hours and the send window combine: the first time both allow', async () => {
  // Quiet until 09:00 inside a window that opens at 08:00: 09:00.
  assert.equal(await windowDue({ start: '22:00', end: '09:00' }, { start: '08:00', end: '20:00' }, 'UTC', '2027-03-24T07:30:00Z'), '2027-03-24T09:00:00.000Z');
  // Quiet from 19:00 on Friday evening, window on weekdays: Monday's opening.
  assert.equal(await windowDue({ start: '19:00', end: '07:00' }, WEEKDAYS, 'Europe/Berlin', '2027-03-26T18:30:00Z'), '2027-03-29T06:00:00.000Z');
  // A quiet lunch inside the window: its end; no quiet hours: the window alone.
  assert.equal(await windowDue({ start: '12:00', end: '13:00' }, WEEKDAYS, 'UTC', '2027-03-24T12:30:00Z'), '2027-03-24T13:00:00.000Z');
  assert.equal(await windowDue(null, WEEKDAYS, 'UTC', '2027-03-24T12:30:00Z'), '2027-03-24T12:30:00.000Z');
});

test('through the API: e-mail outside the window waits for its opening; the inbox item goes at once', async () => {
  await user('sw-berlin', { timezone: 'Europe/Berlin', sendWindow: WEEKDAYS });
  const view = (await h.request({ url: '/v1/users/sw-berlin' })).json();
  assert.deepEqual(view.sendWindow, WEEKDAYS);

  const friday = '2027-03-26T19:30:00.000Z'; // 20:30 CET
  assert.deepEqual(await timing(await send({ to: { userId: 'sw-berlin' }, sendAt: friday, ttlSeconds: 3600 })), {
    email: ['2027-03-29T06:00:00.000Z', 'send-window'],
    inbox: [friday, null],
  });
  const inside = '2027-03-24T09:00:00.000Z';
  assert.deepEqual(await timing(await send({ to: { userId: 'sw-berlin' }, sendAt: inside })), { email: [inside, null], inbox: [inside, null] });
  // The time to live moves with the delivery; a webhook does not wait.
  const id = await send({ to: { userId: 'sw-berlin' }, sendAt: friday, channels: ['email', 'webhook'], ttlSeconds: 3600 });
  const { rows } = await h.db.pool.query(`SELECT channel, due_at, expires_at FROM deliveries WHERE notification_id = $1 ORDER BY channel`, [id]);
  assert.deepEqual(rows.map((r) => [r.channel, r.due_at.toISOString(), r.expires_at.toISOString()]), [
    ['email', '2027-03-29T06:00:00.000Z', '2027-03-29T07:00:00.000Z'],
    ['webhook', friday, '2027-03-26T20:30:00.000Z'],
  ]);

  // A fallback step brought forward (herald_window_release, the statement that records a failure):
  // an e-mail waits for Monday, an inbox item does not.
  const release = async (channel: string) =>
    (await h.db.pool.query<{ at: Date | null }>(`SELECT herald_window_release($1, 'sw-berlin', $2, $3::timestamptz) AS at`, [id, channel, friday])).rows[0]!.at?.toISOString() ?? null;
  assert.equal(await release('email'), '2027-03-29T06:00:00.000Z');
  assert.equal(await release('inbox'), null);

  // With quiet hours too, the later rule names itself.
  await user('sw-both', { timezone: 'UTC', quietHours: { start: '22:00', end: '09:00' }, sendWindow: { start: '08:00', end: '20:00' } });
  assert.deepEqual(await timing(await send({ to: { userId: 'sw-both' }, sendAt: '2027-03-24T07:30:00Z', channels: ['email'] })), { email: ['2027-03-24T09:00:00.000Z', 'quiet-hours'] });
  assert.deepEqual(await timing(await send({ to: { userId: 'sw-both' }, sendAt: '2027-03-24T20:30:00Z', channels: ['email'] })), { email: ['2027-03-25T09:00:00.000Z', 'send-window'] });
});

test('critical notifications and required types go through the send window', async () => {
  await user('sw-crit', { timezone: 'Europe/Berlin', sendWindow: WEEKDAYS });
  const saturday = '2027-03-27T11:00:00.000Z';
  assert.deepEqual(await timing(await send({ to: { userId: 'sw-crit' }, sendAt: saturday, priority: 'critical' })), { email: [saturday, null], inbox: [saturday, null] });
  assert.deepEqual(await timing(await send({ to: { userId: 'sw-crit' }, sendAt: saturday, type: 'security' })), { email: [saturday, null], inbox: [saturday, null] });
  assert.deepEqual(await timing(await send({ to: { userId: 'sw-crit' }, sendAt: saturday, priority: 'high' })), { email: ['2027-03-29T06:00:00.000Z', 'send-window'], inbox: [saturday, null] });
});

test('the app’s send window is the default; a user’s own replaces it; PUT /v1/me sets and clears it', async () => {
  const app = await h.request({ method: 'PUT', url: '/v1/apps/sw-app', payload: { name: 'Window app', defaultTimezone: 'Asia/Tokyo', sendWindow: { start: '09:00', end: '18:00' } } });
  assert.equal(app.statusCode, 200, app.body);
  assert.deepEqual(app.json().sendWindow, { start: '09:00', end: '18:00' });
  assert.deepEqual((await h.request({ url: '/v1/apps/sw-app' })).json().sendWindow, { start: '09:00', end: '18:00' });
  await user('sw-plain', {});
  await user('sw-own', { timezone: 'Europe/Berlin', sendWindow: { start: '07:00', end: '23:00' } });
  const at = '2027-01-04T13:00:00.000Z'; // 22:00 in Tokyo, 14:00 in Berlin
  const id = await send({ to: { userIds: ['sw-plain', 'sw-own'] }, appId: 'sw-app', channels: ['email'], sendAt: at });
  const byUser = Object.fromEntries((await deliveries(id)).map((d) => [d.userId, [d.dueAt, d.deferredBy]]));
  assert.deepEqual(byUser, { 'sw-plain': ['2027-01-05T00:00:00.000Z', 'send-window'], 'sw-own': [at, null] });
  // The batch statement: the same rule.
  const batch = await h.request({ method: 'POST', url: '/v1/notifications/batch', payload: { items: [{ to: { userId: 'sw-plain' }, appId: 'sw-app', channels: ['email'], sendAt: at, title: 'b' }] } });
  assert.equal(batch.statusCode, 200, batch.body);
  assert.deepEqual(await timing(batch.json().items[0].id), { email: ['2027-01-05T00:00:00.000Z', 'send-window'] });

  // The user clears their own (null): the app's applies, in their zone (Berlin 22:00 → 09:00).
  const me = await h.app.inject({ method: 'PUT', url: '/v1/me', headers: await asUser('sw-own'), payload: { timezone: 'Europe/Berlin', sendWindow: null } });
  assert.equal(me.statusCode, 200, me.body);
  assert.equal(me.json().sendWindow, null);
  assert.deepEqual(await timing(await send({ to: { userId: 'sw-own' }, appId: 'sw-app', channels: ['email'], sendAt: '2027-01-04T21:00:00Z' })), { email: ['2027-01-05T08:00:00.000Z', 'send-window'] });
  const set = await h.app.inject({ method: 'PUT', url: '/v1/me', headers: await asUser('sw-own'), payload: { timezone: 'Europe/Berlin', sendWindow: { start: '06:00', end: '23:30', days: ['MO'] } } });
  assert.equal(set.statusCode, 200, set.body);
  assert.deepEqual(set.json().sendWindow, { start: '06:00', end: '23:30', days: ['MO'] });
});

test('invalid send windows answer 4xx naming the field and store nothing', async () => {
  await user('sw-valid', { timezone: 'Europe/Berlin', sendWindow: WEEKDAYS });
  const cases: Array<[string, object, number, string, string]> = [
    ['/v1/users/sw-valid', { sendWindow: { start: '24:00', end: '20:00' } }, 400, 'VALIDATION_FAILED', 'body.sendWindow.start'],
    ['/v1/users/sw-valid', { sendWindow: { start: '08:00' } }, 400, 'VALIDATION_FAILED', 'body.sendWindow.end'],
    ['/v1/users/sw-valid', { sendWindow: { start: '08:00', end: '20:00', days: ['MO', 'MO'] } }, 400, 'VALIDATION_FAILED', 'body.sendWindow.days'],
    ['/v1/users/sw-valid', { sendWindow: { start: '08:00', end: '20:00', days: ['XX'] } }, 400, 'VALIDATION_FAILED', 'body.sendWindow.days.0'],
    ['/v1/users/sw-valid', { sendWindow: { start: '08:00', end: '08:00:00' } }, 422, 'UNPROCESSABLE', 'body.sendWindow.end'],
    ['/v1/apps/sw-bad', { name: 'x', sendWindow: { start: '8:00', end: '20:00' } }, 400, 'VALIDATION_FAILED', 'body.sendWindow.start'],
    ['/v1/apps/sw-bad', { name: 'x', sendWindow: { start: '20:00', end: '20:00' } }, 422, 'UNPROCESSABLE', 'body.sendWindow.end'],
  ];
  for (const [url, payload, status, code, field] of cases) {
    const res = await h.request({ method: 'PUT', url, payload });
    assert.equal(res.statusCode, status, `${url} ${JSON.stringify(payload)}: ${res.body}`);
    const err = res.json().error;
    assert.equal(err.code, code);
    assert.ok(err.details.some((d: { field: string }) => d.field === field), `${field} in ${JSON.stringify(err.details)}`);
  }
  const kept = (await h.request({ url: '/v1/users/sw-valid' })).json();
  assert.deepEqual([kept.timezone, kept.sendWindow], ['Europe/Berlin', WEEKDAYS]);
  assert.equal((await h.request({ url: '/v1/apps/sw-bad' })).statusCode, 404);
});
