import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { startEngine, eventually, type RunningEngine } from './helpers/engine.ts';
import { ReminderScheduler } from '../src/scheduler/index.ts';

let h: TestHarness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h.close();
});

async function createReminder(userId: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await h.request({ method: 'POST', url: `/v1/users/${userId}/reminders`, payload: body });
  assert.equal(res.statusCode, 201, res.body);
  return res.json();
}

async function reminderNotifications(reminderId: string) {
  const { rows } = await h.db.pool.query<{ id: string; send_at: Date; cancelled_at: Date | null }>(
    `SELECT id, send_at, cancelled_at FROM notifications WHERE reminder_id = $1 ORDER BY send_at`,
    [reminderId],
  );
  return rows;
}

/** Walk a daily 09:00 Europe/Berlin reminder through `days` occurrences by rolling the scheduler. */
async function walk(userId: string, firstLocal: string, days: number): Promise<string[]> {
  const first = DateTime.fromISO(firstLocal, { zone: 'Europe/Berlin' });
  const r = await createReminder(userId, {
    date: first.toUTC().toISO(),
    message: 'Stand-up',
    recurrence: 'FREQ=DAILY',
    timezone: 'Europe/Berlin',
    channels: ['inbox'],
  });
  const scheduler = new ReminderScheduler(h.db.pool, h.ctx.log, h.services.recurrences);
  for (let i = 1; i < days; i++) {
    const { rows } = await h.db.pool.query<{ next_fire_at: Date }>(`SELECT next_fire_at FROM reminders WHERE id = $1`, [r.id]);
    assert.equal(await scheduler.rollDue(10, rows[0]!.next_fire_at), 1);
  }
  const fired = await reminderNotifications(String(r.id));
  assert.equal(fired.length, days);
  await h.db.pool.query(`DELETE FROM reminders WHERE id = $1`, [r.id]);
  return fired.map((n) => DateTime.fromJSDate(n.send_at, { zone: 'Europe/Berlin' }).toFormat("yyyy-MM-dd HH:mm ZZ"));
}

test('a daily 09:00 Europe/Berlin reminder fires at 09:00 local across the spring DST change', async () => {
  assert.deepEqual(await walk('dst-spring', '2027-03-26T09:00:00', 4), [
    '2027-03-26 09:00 +01:00',
    '2027-03-27 09:00 +01:00',
    '2027-03-28 09:00 +02:00',
    '2027-03-29 09:00 +02:00',
  ]);
});

test('a daily 09:00 Europe/Berlin reminder fires at 09:00 local across the autumn DST change', async () => {
  assert.deepEqual(await walk('dst-autumn', '2027-10-29T09:00:00', 4), [
    '2027-10-29 09:00 +02:00',
    '2027-10-30 09:00 +02:00',
    '2027-10-31 09:00 +01:00',
    '2027-11-01 09:00 +01:00',
  ]);
});

test('updating a reminder reschedules its notification; deleting it cancels it', async () => {
  const date = new Date(Date.now() + 3_600_000);
  const r = await createReminder('resched', { date: date.toISOString(), message: 'Dentist', notifyOffset: 10, channels: ['inbox'] });
  let ns = await reminderNotifications(String(r.id));
  assert.equal(ns.length, 1);
  assert.equal(ns[0]!.send_at.getTime(), date.getTime() - 600_000);
  const later = new Date(date.getTime() + 86_400_000);
  const patch = await h.request({ method: 'PATCH', url: `/v1/users/resched/reminders/${r.id}`, payload: { date: later.toISOString() } });
  assert.equal(patch.statusCode, 200, patch.body);
  ns = await reminderNotifications(String(r.id));
  assert.equal(ns.length, 2);
  assert.ok(ns[0]!.cancelled_at, 'the old occurrence is cancelled');
  assert.equal(ns[1]!.cancelled_at, null);
  assert.equal(ns[1]!.send_at.getTime(), later.getTime() - 600_000);
  const old = await h.request({ url: `/v1/notifications/${ns[0]!.id}` });
  assert.equal(old.json().status, 'cancelled');
  const del = await h.request({ method: 'DELETE', url: `/v1/users/resched/reminders/${r.id}` });
  assert.equal(del.statusCode, 204);
  const gone = await h.request({ url: `/v1/notifications/${ns[1]!.id}` });
  assert.equal(gone.json().status, 'cancelled');
  const events = (await h.request({ url: '/v1/users/resched/events' })).json().items as Array<{ type: string }>;
  assert.ok(events.filter((e) => e.type === 'notification:cancelled').length >= 2);
});

test('when a recurring reminder fires, its notification is delivered and the next occurrence is scheduled', async () => {
  const engine: RunningEngine = await startEngine(h);
  try {
    const date = new Date(Date.now() + 120_000);
    const r = await createReminder('fires', { date: date.toISOString(), message: 'Water the plants', isRecurring: true, channels: ['inbox'] });
    // Bring the occurrence forward to now, as if its time had come.
    await h.db.pool.query(`UPDATE deliveries SET due_at = now(), run_at = now() WHERE notification_id IN (SELECT id FROM notifications WHERE reminder_id = $1)`, [r.id]);
    const { rows } = await h.db.pool.query<{ date: Date }>(`UPDATE reminders SET date = date_trunc('second', now()), next_fire_at = date_trunc('second', now()) WHERE id = $1 RETURNING date`, [r.id]);
    const firedAt = rows[0]!.date;
    await h.db.pool.query(`SELECT pg_notify('herald_deliveries', '0'), pg_notify('herald_reminders', '0')`);
    const item = await eventually(async () => {
      const list = (await h.request({ url: '/v1/users/fires/inbox' })).json().items as Array<{ body: string }>;
      return list.find((i) => i.body === 'Water the plants');
    }, 15_000, 'the reminder in the inbox');
    assert.ok(item);
    const next = await eventually(async () => {
      const ns = await reminderNotifications(String(r.id));
      return ns.find((n) => n.send_at.getTime() > Date.now() + 3_600_000);
    }, 15_000, 'the next occurrence');
    // isRecurring without a rule is daily: the next occurrence is a day after the original date.
    assert.equal(next.send_at.getTime(), firedAt.getTime() + 86_400_000);
    // The inbox item is stored by the send; its outcome (and the notification:sent event) is
    // recorded a moment later, in the worker's next outcome slice.
    const events = await eventually(async () => {
      const items = (await h.request({ url: '/v1/users/fires/events' })).json().items as Array<{ type: string }>;
      return items.some((e) => e.type === 'notification:sent') ? items : undefined;
    }, 15_000, 'the notification:sent event');
    assert.ok(events.some((e) => e.type === 'reminder:fired'));
  } finally {
    await engine.stop();
  }
});

test('a reminder a few seconds ahead is accepted and fires on time, without a one-minute lead', async () => {
  const engine: RunningEngine = await startEngine(h);
  try {
    const date = new Date(Date.now() + 2_000);
    const r = await createReminder('soon', { date: date.toISOString(), message: 'Kettle', channels: ['inbox'] });
    assert.equal(r.nextFireAt, date.toISOString());
    const item = await eventually(async () => {
      const list = (await h.request({ url: '/v1/users/soon/inbox' })).json().items as Array<{ body: string; createdAt: string }>;
      return list.find((i) => i.body === 'Kettle');
    }, 15_000, 'the reminder in the inbox');
    assert.ok(Date.parse(item.createdAt) >= date.getTime(), 'not before its time');
  } finally {
    await engine.stop();
  }
});
