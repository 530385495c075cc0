import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { createHarness, TEST_JWT_SECRET, type TestHarness } from './helpers/app.ts';
import { NO_HOOKS, type ReminderRow } from '../src/core/hooks.ts';
import { nextOccurrence } from '../src/reminders/index.ts';
import { nextOccurrenceByWalking } from '../src/reminders/schedule.ts';

let h: TestHarness;
before(async () => {
  h = await createHarness({}, { hooks: NO_HOOKS });
});
after(async () => {
  await h.close();
});

const inHours = (n: number) => new Date(Date.now() + n * 3_600_000).toISOString();
const token = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));
const count = async (sql: string, params: unknown[] = []) => (await h.db.pool.query(sql, params)).rowCount;

test('create stores nextFireAt = date − notifyOffset and records reminder:created', async () => {
  const date = inHours(2);
  const res = await h.request({ method: 'POST', url: '/v1/users/r1/reminders', payload: { date, message: 'Stand-up', title: 'Reminder', notifyOffset: 10, url: 'https://example.com/x' } });
  assert.equal(res.statusCode, 201, res.body);
  const r = res.json();
  assert.equal(r.nextFireAt, new Date(Date.parse(date) - 10 * 60_000).toISOString());
  assert.deepEqual(r.channels, ['push']);
  assert.equal(r.isRecurring, false);
  const ev = await h.request({ url: '/v1/users/r1/events' });
  assert.deepEqual(ev.json().items.map((e: { type: string; itemId: string }) => [e.type, e.itemId]), [['reminder:created', r.id]]);
});

test('notifyType is a synonym of channels; isRecurring without recurrence is daily', async () => {
  const res = await h.request({ method: 'POST', url: '/v1/users/r2/reminders', payload: { date: inHours(3), message: 'm', notifyType: 'email', isRecurring: true } });
  assert.equal(res.statusCode, 201, res.body);
  assert.deepEqual(res.json().channels, ['email']);
  assert.equal(res.json().notifyType, 'email');
  assert.equal(res.json().recurrence, 'FREQ=DAILY');
  assert.equal(res.json().isRecurring, true);
  assert.equal(res.json().timezone, 'UTC', 'no zone given and none on the user: UTC');
});

test('INVALID_DUEDATE when date − notifyOffset has already passed, saying so; nothing written', async () => {
  for (const payload of [
    { date: new Date(Date.now() - 60_000).toISOString(), message: 'past' },
    { date: new Date(Date.now() - 1_000).toISOString(), message: 'just past' },
    { date: inHours(1), notifyOffset: 61, message: 'offset makes it past' },
  ]) {
    const res = await h.request({ method: 'POST', url: '/v1/users/r3/reminders', payload });
    assert.equal(res.statusCode, 422, res.body);
    assert.equal(res.json().error.code, 'INVALID_DUEDATE');
    assert.match(res.json().error.message, /already passed/);
    assert.ok(res.json().error.details.fireAt);
  }
  assert.equal(await count(`SELECT 1 FROM reminders WHERE user_id = 'r3'`), 0);
  assert.equal(await count(`SELECT 1 FROM events WHERE user_id = 'r3'`), 0);
});

test('a reminder due in seconds is accepted: herald needs no minute of lead time', async () => {
  for (const ms of [30_000, 3_000]) {
    const date = new Date(Date.now() + ms).toISOString();
    const res = await h.request({ method: 'POST', url: '/v1/users/r3b/reminders', payload: { date, message: `in ${ms} ms` } });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().nextFireAt, date);
  }
  const r = (await h.request({ method: 'POST', url: '/v1/users/r3b/reminders', payload: { date: inHours(1), message: 'moved' } })).json();
  const soon = new Date(Date.now() + 5_000).toISOString();
  const moved = await h.request({ method: 'PATCH', url: `/v1/users/r3b/reminders/${r.id}`, payload: { date: soon } });
  assert.equal(moved.statusCode, 200, moved.body);
  assert.equal(moved.json().nextFireAt, soon);
});

test('invalid RRULE is 422 INVALID_RECURRENCE; bad timezone is 422 INVALID_TIMEZONE', async () => {
  for (const recurrence of ['FREQ=FORTNIGHTLY', 'BYDAY=MO', 'FREQ=SECONDLY', 'FREQ=MINUTELY;INTERVAL=7;BYHOUR=9', 'FREQ=DAILY;COUNT=20000', 'FREQ=YEARLY;BYEASTER=0', 'FREQ=DAILY;DTSTART=20260101T000000Z', 'nonsense']) {
    const res = await h.request({ method: 'POST', url: '/v1/users/r4/reminders', payload: { date: inHours(2), message: 'm', recurrence } });
    assert.equal(res.statusCode, 422, `${recurrence}: ${res.body}`);
    assert.equal(res.json().error.code, 'INVALID_RECURRENCE');
  }
  const tz = await h.request({ method: 'POST', url: '/v1/users/r4/reminders', payload: { date: inHours(2), message: 'm', timezone: 'Nowhere/Special' } });
  assert.equal(tz.json().error.code, 'INVALID_TIMEZONE');
  assert.equal(await count(`SELECT 1 FROM reminders WHERE user_id = 'r4'`), 0);
});

test('list is newest first with limit, offset and total', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    ids.push((await h.request({ method: 'POST', url: '/v1/users/r5/reminders', payload: { date: inHours(5), message: `m${i}` } })).json().id);
  }
  const page = await h.request({ url: '/v1/users/r5/reminders?limit=2&offset=1' });
  assert.equal(page.statusCode, 200);
  assert.deepEqual(page.json().items.map((r: { id: string }) => r.id), [ids[3], ids[2]]);
  assert.equal(page.json().total, 5);
  assert.equal(page.json().limit, 2);
  assert.equal(page.json().offset, 1);
});

test('PATCH and seed-style POST reschedule; GET reads; DELETE removes and records the events', async () => {
  const r = (await h.request({ method: 'POST', url: '/v1/users/r6/reminders', payload: { date: inHours(2), message: 'old' } })).json();
  const newDate = inHours(4);
  const patched = await h.request({ method: 'PATCH', url: `/v1/users/r6/reminders/${r.id}`, payload: { date: newDate, notifyOffset: 5 } });
  assert.equal(patched.statusCode, 200, patched.body);
  assert.equal(patched.json().nextFireAt, new Date(Date.parse(newDate) - 5 * 60_000).toISOString());
  assert.equal(patched.json().message, 'old');
  const posted = await h.request({ method: 'POST', url: `/v1/users/r6/reminders/${r.id}`, payload: { message: 'new' } });
  assert.equal(posted.statusCode, 200);
  assert.equal((await h.request({ url: `/v1/users/r6/reminders/${r.id}` })).json().message, 'new');
  const past = await h.request({ method: 'PATCH', url: `/v1/users/r6/reminders/${r.id}`, payload: { date: new Date(Date.now() - 1000).toISOString() } });
  assert.equal(past.json().error.code, 'INVALID_DUEDATE');
  assert.equal((await h.request({ method: 'DELETE', url: `/v1/users/r6/reminders/${r.id}` })).statusCode, 204);
  const gone = await h.request({ url: `/v1/users/r6/reminders/${r.id}` });
  assert.equal(gone.statusCode, 404);
  assert.equal(gone.json().error.code, 'NOT_FOUND');
  const types = (await h.request({ url: '/v1/users/r6/events' })).json().items.map((e: { type: string }) => e.type);
  assert.deepEqual(types, ['reminder:created', 'reminder:updated', 'reminder:updated', 'reminder:deleted']);
});

test('another user’s reminder through /v1/me is 404 for every verb', async () => {
  const r = (await h.request({ method: 'POST', url: '/v1/users/victim/reminders', payload: { date: inHours(2), message: 'secret' } })).json();
  const auth = { authorization: `Bearer ${await token('attacker')}` };
  for (const [method, payload] of [['GET', undefined], ['PATCH', { message: 'x' }], ['POST', { message: 'x' }], ['DELETE', undefined]] as const) {
    const res = await h.app.inject({ method, url: `/v1/me/reminders/${r.id}`, headers: auth, ...(payload ? { payload } : {}) });
    assert.equal(res.statusCode, 404, `${method}: ${res.body}`);
    assert.equal(res.json().error.code, 'NOT_FOUND');
  }
  assert.equal((await h.request({ url: `/v1/users/victim/reminders/${r.id}` })).json().message, 'secret');
  const own = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: auth, payload: { date: inHours(2), message: 'mine' } });
  assert.equal(own.statusCode, 201);
  assert.equal(own.json().userId, 'attacker');
});

test('a recurring reminder uses the user’s timezone and the hooks see the saved row', async () => {
  await h.request({ method: 'PUT', url: '/v1/users/berliner', payload: { timezone: 'Europe/Berlin' } });
  const seen: ReminderRow[] = [];
  h.useHooks({ ...NO_HOOKS, async reminderSaved(_c, row) { seen.push(row); } });
  try {
    const res = await h.request({ method: 'POST', url: '/v1/users/berliner/reminders', payload: { date: '2099-01-05T08:00:00Z', message: 'weekly', recurrence: 'RRULE:FREQ=WEEKLY;BYDAY=MO,WE' } });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().timezone, 'Europe/Berlin');
    assert.equal(res.json().recurrence, 'FREQ=WEEKLY;BYDAY=MO,WE');
    assert.equal(res.json().nextFireAt, '2099-01-05T08:00:00.000Z');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.id, res.json().id);
  } finally {
    h.useHooks(NO_HOOKS);
  }
});

test('nextOccurrence: daily 09:00 Europe/Berlin stays at 09:00 local across both 2026 DST changes', () => {
  const reminder = { date: new Date('2026-03-20T08:00:00Z'), notifyOffset: 0, recurrence: 'FREQ=DAILY', timezone: 'Europe/Berlin' };
  const walk = (from: string, n: number) => {
    const out: string[] = [];
    let t = new Date(from);
    for (let i = 0; i < n; i++) {
      t = nextOccurrence(reminder, t)!;
      out.push(t.toISOString());
    }
    return out;
  };
  // Spring forward on 29 March 2026: 09:00 CET = 08:00Z before, 09:00 CEST = 07:00Z after.
  assert.deepEqual(walk('2026-03-27T12:00:00Z', 4), ['2026-03-28T08:00:00.000Z', '2026-03-29T07:00:00.000Z', '2026-03-30T07:00:00.000Z', '2026-03-31T07:00:00.000Z']);
  // Fall back on 25 October 2026.
  assert.deepEqual(walk('2026-10-23T12:00:00Z', 3), ['2026-10-24T07:00:00.000Z', '2026-10-25T08:00:00.000Z', '2026-10-26T08:00:00.000Z']);
  // The offset moves the fire time, not the occurrence: 15 minutes before 09:00 local.
  assert.equal(nextOccurrence({ ...reminder, notifyOffset: 15 }, new Date('2026-03-29T00:00:00Z'))!.toISOString(), '2026-03-29T06:45:00.000Z');
  // A one-off reminder fires once.
  const once = { ...reminder, recurrence: null };
  assert.equal(nextOccurrence(once, new Date('2026-03-01T00:00:00Z'))!.toISOString(), '2026-03-20T08:00:00.000Z');
  assert.equal(nextOccurrence(once, new Date('2026-03-20T08:00:00Z')), null);
  // COUNT ends the series.
  const twice = { ...reminder, recurrence: 'FREQ=DAILY;COUNT=2' };
  assert.equal(nextOccurrence(twice, new Date('2026-03-21T08:00:00Z')), null);
});

test('fast-forwarding a long-running rule finds the same occurrences as walking from its start', () => {
  const rules = ['FREQ=DAILY', 'FREQ=DAILY;INTERVAL=3', 'FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,FR', 'FREQ=HOURLY;INTERVAL=5', 'FREQ=MINUTELY;INTERVAL=15;BYHOUR=9', 'FREQ=MINUTELY;INTERVAL=7',
    'FREQ=DAILY;BYHOUR=8,20;BYMINUTE=30', 'FREQ=MONTHLY;BYMONTHDAY=31', 'FREQ=YEARLY', 'FREQ=WEEKLY;BYDAY=MO;UNTIL=20300101T000000Z', 'FREQ=DAILY;COUNT=400'];
  const start = new Date('2026-01-15T07:45:00Z');
  for (const recurrence of rules) {
    for (const zone of ['Europe/Berlin', 'America/New_York', 'UTC']) {
      const reminder = { date: start, notifyOffset: 5, recurrence, timezone: zone };
      for (const after of ['2026-03-29T00:30:00Z', '2026-11-01T05:00:00Z', '2027-02-28T23:59:00Z', '2028-06-30T12:00:00Z']) {
        // Walking is bounded to 20,000 periods; an hourly rule has walked further by 2028.
        if (recurrence.startsWith('FREQ=HOURLY') && after.startsWith('2028')) continue;
        const fast = nextOccurrence(reminder, new Date(after))?.toISOString() ?? null;
        const slow = nextOccurrenceByWalking(reminder, new Date(after))?.toISOString() ?? null;
        assert.equal(fast, slow, `${recurrence} in ${zone} after ${after}`);
      }
    }
  }
});

test('rules that never match end quickly instead of blocking: none, or INVALID_RECURRENCE at creation', async () => {
  const never = ['FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30', 'FREQ=HOURLY;INTERVAL=2;BYHOUR=1', 'FREQ=MINUTELY;INTERVAL=60;BYMINUTE=1', 'FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31', 'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30'];
  for (const recurrence of never) {
    assert.equal(nextOccurrence({ date: new Date('2026-12-01T10:00:00Z'), notifyOffset: 0, recurrence, timezone: 'UTC' }, new Date('2026-11-22T00:00:00Z')), null, recurrence);
    const res = await h.request({ method: 'POST', url: '/v1/users/never/reminders', payload: { date: '2099-12-01T10:00:00Z', message: 'm', recurrence, timezone: 'UTC' } });
    assert.equal(res.statusCode, 422, `${recurrence}: ${res.body}`);
    assert.equal(res.json().error.code, 'INVALID_RECURRENCE');
  }
  // Rare but real: 29 February on a Monday comes every 28 years or so.
  assert.equal(nextOccurrence({ date: new Date('2026-12-01T10:00:00Z'), notifyOffset: 0, recurrence: 'FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO', timezone: 'UTC' }, new Date('2026-11-22T00:00:00Z'))?.toISOString(), '2044-02-29T10:00:00.000Z');
});

test('a reminder’s events record who acted: the API key, or the end user for /v1/me', async () => {
  const byKey = (await h.request({ method: 'POST', url: '/v1/users/r-actor/reminders', payload: { date: inHours(2), message: 'by key' } })).json();
  assert.equal((await h.request({ method: 'PATCH', url: `/v1/users/r-actor/reminders/${byKey.id}`, payload: { date: inHours(3), message: 'by key, moved' } })).statusCode, 200);
  const auth = { authorization: `Bearer ${await token('r-actor')}` };
  const mine = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: auth, payload: { date: inHours(2), message: 'by the user' } });
  assert.equal(mine.statusCode, 201, mine.body);
  const actors = async (id: string) => (await h.db.pool.query<{ type: string; actor: string | null }>(`SELECT type, actor FROM events WHERE item_id = $1 ORDER BY id`, [id])).rows;
  const keyed = await actors(byKey.id);
  assert.deepEqual(keyed.map((e) => e.type), ['reminder:created', 'reminder:updated']);
  for (const e of keyed) assert.match(e.actor ?? '', /^key:/);
  assert.deepEqual((await actors(mine.json().id)).map((e) => [e.type, e.actor]), [['reminder:created', 'user:default:r-actor']]);
});
