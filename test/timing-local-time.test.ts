import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { BroadcastFanOut } from '../src/scheduler/fan-out.ts';

/**
 * Local-time sends (docs/timing.md): `sendAt: {localTime}` is due at that wall-clock time in each
 * recipient's zone (theirs, else the app's default, else UTC), for one user, a list and a topic
 * broadcast, which starts fanning out ahead of the first zone to reach the time. Fixed dates in
 * 2027; a broadcast's start is reached by moving its start time, not by waiting for the clock.
 */

let h: TestHarness;
let fanOut: BroadcastFanOut;
before(async () => {
  h = await createHarness();
  fanOut = new BroadcastFanOut(h.db.pool, h.ctx.log, { chunkSize: 2 });
  assert.equal((await h.request({ method: 'PUT', url: '/v1/apps/lt-app', payload: { name: 'Local', defaultTimezone: 'America/Los_Angeles' } })).statusCode, 200);
  for (const [id, timezone] of [['lt-tokyo', 'Asia/Tokyo'], ['lt-berlin', 'Europe/Berlin'], ['lt-ny', 'America/New_York'], ['lt-nozone', null]] as const) {
    const res = await h.request({ method: 'PUT', url: `/v1/users/${id}`, payload: { timezone } });
    assert.equal(res.statusCode, 200, res.body);
  }
});
after(async () => {
  await h.close();
});

async function send(body: object): Promise<{ id: string; sendAt: string; status: string }> {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { title: 'Good morning', channels: ['inbox'], ...body } });
  assert.equal(res.statusCode, 202, res.body);
  return res.json();
}

/** user → [dueAt, deferredBy] of every delivery of the notification. */
async function dueByUser(id: string): Promise<Record<string, [string, string | null]>> {
  const { rows } = await h.db.pool.query(`SELECT user_id, due_at, deferred_by FROM deliveries WHERE notification_id = $1 ORDER BY user_id`, [id]);
  return Object.fromEntries(rows.map((r) => [r.user_id, [r.due_at.toISOString(), r.deferred_by]]));
}

const ZONED = {
  'lt-berlin': ['2027-01-04T08:00:00.000Z', 'local-time'], // 09:00 CET
  'lt-ny': ['2027-01-04T14:00:00.000Z', 'local-time'], // 09:00 EST
  'lt-tokyo': ['2027-01-04T00:00:00.000Z', 'local-time'], // 09:00 JST
};

test('one user: due at 09:00 in their zone; GET shows the local time, sendAt the first moment it comes round', async () => {
  const created = await send({ to: { userId: 'lt-tokyo' }, sendAt: { localTime: '2027-01-04T09:00' } });
  assert.equal(created.sendAt, '2027-01-03T19:00:00.000Z'); // 09:00 at UTC+14
  assert.equal(created.status, 'scheduled');
  const n = (await h.request({ url: `/v1/notifications/${created.id}` })).json();
  assert.equal(n.localTime, '2027-01-04T09:00:00');
  assert.equal(n.sendAt, '2027-01-03T19:00:00.000Z');
  assert.deepEqual(n.deliveries.map((d: { dueAt: string; deferredBy: string }) => [d.dueAt, d.deferredBy]), [['2027-01-04T00:00:00.000Z', 'local-time']]);
  // A notification sent at an instant shows no local time.
  const plain = (await h.request({ url: `/v1/notifications/${(await send({ to: { userId: 'lt-tokyo' }, sendAt: '2027-01-04T00:00:00Z' })).id}` })).json();
  assert.equal(plain.localTime, undefined);
  assert.equal(plain.deliveries[0].deferredBy, null);
});

test('a list: each recipient at their own 09:00; no zone of their own → the app’s default, else UTC', async () => {
  const users = ['lt-tokyo', 'lt-berlin', 'lt-ny', 'lt-nozone'];
  const inApp = await send({ to: { userIds: users }, appId: 'lt-app', sendAt: { localTime: '2027-01-04T09:00' } });
  assert.deepEqual(await dueByUser(inApp.id), { ...ZONED, 'lt-nozone': ['2027-01-04T17:00:00.000Z', 'local-time'] }); // 09:00 PST
  const plain = await send({ to: { userIds: users }, sendAt: { localTime: '2027-01-04T09:00' } });
  assert.deepEqual(await dueByUser(plain.id), { ...ZONED, 'lt-nozone': ['2027-01-04T09:00:00.000Z', 'local-time'] });
  // The batch statement applies the same rule.
  const batch = await h.request({ method: 'POST', url: '/v1/notifications/batch', payload: { items: [{ to: { userIds: users }, appId: 'lt-app', sendAt: { localTime: '2027-01-04T09:00' }, title: 'b', channels: ['inbox'] }] } });
  assert.equal(batch.statusCode, 200, batch.body);
  assert.deepEqual(await dueByUser(batch.json().items[0].id), await dueByUser(inApp.id));
});

test('a topic broadcast to three zones starts fanning out ahead of the first zone and goes out in waves', async () => {
  assert.equal((await h.request({ method: 'PUT', url: '/v1/topics/lt-news', payload: {} })).statusCode, 200);
  const sub = await h.request({ method: 'POST', url: '/v1/topics/lt-news/subscribers', payload: { userIds: ['lt-tokyo', 'lt-berlin', 'lt-ny'] } });
  assert.equal(sub.statusCode, 200, sub.body);
  const created = await send({ to: { topic: 'lt-news' }, sendAt: { localTime: '2027-01-04T09:00' }, channels: ['inbox', 'push'] });
  const { rows } = await h.db.pool.query(`SELECT start_at FROM broadcasts WHERE notification_id = $1`, [created.id]);
  assert.equal(rows[0].start_at.toISOString(), '2027-01-03T18:00:00.000Z'); // an hour before 09:00 at UTC+14
  assert.equal((await fanOut.step()).kind, 'idle'); // not yet
  // Herald's clock reaches the start: the fan-out runs (two chunks of two users).
  await h.db.pool.query(`UPDATE broadcasts SET start_at = now() WHERE notification_id = $1`, [created.id]);
  while ((await fanOut.step()).kind === 'chunk');
  assert.deepEqual(await dueByUser(created.id), ZONED);
  const view = (await h.request({ url: `/v1/notifications/${created.id}` })).json();
  assert.equal(view.localTime, '2027-01-04T09:00:00');
  assert.equal(view.audience.deliveries, 3);
});

test('local time and quiet hours: the local time decides the due time, then quiet hours defer push (not inbox)', async () => {
  const put = await h.request({ method: 'PUT', url: '/v1/users/lt-early', payload: { timezone: 'Europe/Berlin', quietHours: { start: '22:00', end: '07:00' } } });
  assert.equal(put.statusCode, 200, put.body);
  assert.equal((await h.request({ method: 'POST', url: '/v1/users/lt-early/devices', payload: { platform: 'android', token: 'tok-lt-early' } })).statusCode, 201);
  const { id } = await send({ to: { userId: 'lt-early' }, sendAt: { localTime: '2027-01-04T06:00' }, channels: ['inbox', 'push'] });
  const { rows } = await h.db.pool.query(`SELECT channel, due_at, deferred_by FROM deliveries WHERE notification_id = $1 ORDER BY channel`, [id]);
  assert.deepEqual(rows.map((r) => [r.channel, r.due_at.toISOString(), r.deferred_by]), [
    ['inbox', '2027-01-04T05:00:00.000Z', 'local-time'], // 06:00 CET
    ['push', '2027-01-04T06:00:00.000Z', 'quiet-hours'], // 07:00 CET, the window's end
  ]);
});

test('a local time in the DST gap is the time after it; one already past in a zone is due at once', async () => {
  const gap = await send({ to: { userIds: ['lt-berlin', 'lt-ny'] }, sendAt: { localTime: '2027-03-28T02:30' } });
  const due = await dueByUser(gap.id);
  assert.equal(due['lt-berlin']![0], '2027-03-28T01:30:00.000Z'); // 03:30 CEST: Berlin skips 02:00–03:00 that night
  assert.equal(due['lt-ny']![0], '2027-03-28T06:30:00.000Z'); // 02:30 EDT, an ordinary night there

  const before = Date.now();
  const past = await send({ to: { userIds: ['lt-tokyo', 'lt-ny'] }, sendAt: { localTime: new Date(before - 86_400_000).toISOString().slice(0, 16) } });
  assert.equal(past.status, 'pending');
  for (const [at, by] of Object.values(await dueByUser(past.id))) {
    assert.ok(Math.abs(Date.parse(at) - before) < 60_000, `${at} is now`);
    assert.equal(by, 'local-time');
  }
});

test('a device registered after the first zone reached the local time joins for a user whose own local time is still to come', async () => {
  // The wall-clock time three hours from now in UTC: already past at UTC+14 (the notification's
  // send time, 11 hours ago), still to come for a user in UTC.
  const at = new Date(Date.now() + 3 * 3600_000);
  const localTime = at.toISOString().slice(0, 16);
  for (const [id, timezone] of [['lt-late-utc', 'UTC'], ['lt-late-kiritimati', 'Pacific/Kiritimati']] as const) {
    assert.equal((await h.request({ method: 'PUT', url: `/v1/users/${id}`, payload: { timezone } })).statusCode, 200);
  }
  const created = await send({ to: { userIds: ['lt-late-utc', 'lt-late-kiritimati'] }, channels: ['push'], sendAt: { localTime } });
  assert.ok(new Date(created.sendAt).getTime() < Date.now(), 'its send time has passed');
  for (const [userId, token] of [['lt-late-utc', 'a'], ['lt-late-kiritimati', 'b']] as const) {
    const res = await h.request({ method: 'POST', url: `/v1/users/${userId}/devices`, payload: { platform: 'ios', token: token.repeat(64) } });
    assert.ok(res.statusCode === 201 || res.statusCode === 200, res.body);
  }
  const { rows } = await h.db.pool.query(`SELECT user_id, channel, due_at, deferred_by FROM deliveries WHERE notification_id = $1`, [created.id]);
  assert.equal(rows.length, 1, 'only the user whose local time is still to come');
  assert.equal(rows[0].user_id, 'lt-late-utc');
  assert.equal(rows[0].channel, 'push');
  assert.equal(rows[0].due_at.toISOString(), `${localTime}:00.000Z`);
  assert.equal(rows[0].deferred_by, 'local-time');
});

test('a local time without a date, with an offset, an impossible date or missing answers 400 naming the field and stores nothing', async () => {
  const count = async () => (await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM notifications`)).rows[0]!.n;
  const before = await count();
  for (const sendAt of [{ localTime: '09:00' }, { localTime: '2027-02-30T09:00' }, { localTime: '2027-01-04T09:00+01:00' }, { localTime: '2027-01-04' }, {}]) {
    const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'lt-tokyo' }, title: 'x', sendAt } });
    assert.equal(res.statusCode, 400, `${JSON.stringify(sendAt)}: ${res.body}`);
    const err = res.json().error;
    assert.equal(err.code, 'VALIDATION_FAILED');
    const fields = err.details.map((d: { field: string }) => d.field);
    assert.ok(fields.includes('body.sendAt.localTime'), `${JSON.stringify(sendAt)}: ${JSON.stringify(err.details)}`);
  }
  const batch = await h.request({ method: 'POST', url: '/v1/notifications/batch', payload: { items: [{ to: { userId: 'lt-tokyo' }, title: 'x', sendAt: { localTime: '2027-13-01T09:00' } }] } });
  assert.equal(batch.statusCode, 200, batch.body);
  const item = batch.json().items[0];
  assert.equal(item.error.code, 'VALIDATION_FAILED');
  assert.ok(item.error.details.some((d: { field: string }) => d.field === 'body.items.0.sendAt.localTime'), JSON.stringify(item.error.details));
  assert.equal(await count(), before);
});
