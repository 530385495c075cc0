import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { eventually, scriptedChannel, startEngine, type RunningEngine } from './helpers/engine.ts';
import { notifyDeliveriesDue } from '../src/db/wakeup.ts';

/**
 * Frequency caps (docs/timing.md): decided when a delivery is about to be sent, counted from the
 * ledger of what passed. Time is moved by re-dating the ledger's rows, never by waiting.
 */

let h: TestHarness;
let engine: RunningEngine;
// A webhook titled "Retry" waits an hour for its next attempt, one titled "Fails" fails for good.
const webhooks = scriptedChannel('webhook', (job) =>
  job.content.title === 'Retry' ? { status: 'retry', error: 'receiver answered 503', retryAfterMs: 3_600_000 }
  : job.content.title === 'Fails' ? { status: 'failed', error: 'receiver answered 400' }
  : { status: 'sent' });
const mails = scriptedChannel('email', () => ({ status: 'sent' }));
const pushes = scriptedChannel('apns', () => ({ status: 'sent' }));

before(async () => {
  h = await createHarness();
  engine = await startEngine(h, [webhooks, mails, pushes]);
});
after(async () => {
  await engine.stop();
  await h.close();
});

async function putType(key: string, body: object) {
  return h.request({ method: 'PUT', url: `/v1/apps/default/notification-types/${key}`, payload: body });
}

async function send(userId: string, type: string, extra: object = {}): Promise<string> {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId }, type, channels: ['inbox'], title: 'Sale!', ...extra } });
  assert.equal(res.statusCode, 202, res.body);
  return res.json().id;
}

interface Row { id: string; status: string; attempts: number; run_at: Date; deferred_by: string | null; channel: string }
async function deliveriesOf(notificationId: string): Promise<Row[]> {
  const { rows } = await h.db.pool.query<Row>(`SELECT id::text, status, attempts, run_at, deferred_by, channel FROM deliveries WHERE notification_id = $1 ORDER BY id`, [notificationId]);
  return rows;
}
const settled = (id: string, status = 'sent') => eventually(async () => (await deliveriesOf(id)).every((d) => d.status === status), 15_000, `${id} ${status}`);

test('a cap defers the fourth notification to the minute the oldest of three sends leaves the window', async () => {
  assert.equal((await putType('promo', { name: 'Promotions', cap: { max: 3, per: '24h' } })).statusCode, 200);
  const first = [await send('cap-ada', 'promo'), await send('cap-ada', 'promo'), await send('cap-ada', 'promo')];
  for (const id of first) await settled(id);
  // The three sends happened 23 h 50 min, 5 h and 1 h ago.
  await h.db.pool.query(
    `UPDATE cap_usage c SET sent_at = now() - v.ago
       FROM (SELECT d.id, (ARRAY[interval '23 hours 50 minutes', interval '5 hours', interval '1 hour'])[row_number() OVER (ORDER BY d.id)] AS ago
               FROM deliveries d WHERE d.notification_id = ANY ($1::text[])) v
      WHERE c.delivery_id = v.id`,
    [first],
  );
  const { rows: ledger } = await h.db.pool.query<{ oldest: Date }>(`SELECT min(sent_at) AS oldest FROM cap_usage WHERE user_id = 'cap-ada'`);
  const fourth = await send('cap-ada', 'promo');
  const [held] = await eventually(async () => {
    const rows = await deliveriesOf(fourth);
    return rows[0]?.deferred_by === 'cap' && rows[0].status === 'pending' ? rows : undefined;
  });
  // Deferred to exactly when the send of 23 h 50 min ago turns 24 h old: about ten minutes from now.
  assert.equal(held!.run_at.getTime(), ledger[0]!.oldest.getTime() + 24 * 3600_000);
  const inMinutes = (held!.run_at.getTime() - Date.now()) / 60_000;
  assert.ok(inMinutes > 9 && inMinutes <= 10, `deferred ${inMinutes} min`);
  assert.equal(held!.attempts, 0, 'a deferral uses no attempt');
  const view = (await h.request({ method: 'GET', url: `/v1/notifications/${fourth}` })).json();
  assert.equal(view.deliveries[0].status, 'pending');
  assert.equal(view.deliveries[0].deferredBy, 'cap');

  // Ten minutes pass: every send is ten minutes older and the deferred delivery is due.
  await h.db.pool.query(`UPDATE cap_usage SET sent_at = sent_at - interval '10 minutes' WHERE user_id = 'cap-ada'`);
  await h.db.pool.query(`UPDATE deliveries SET run_at = now(), due_at = now() WHERE notification_id = $1`, [fourth]);
  await notifyDeliveriesDue(h.db.pool, new Date());
  await settled(fourth);
  const after = await deliveriesOf(fourth);
  assert.equal(after[0]!.attempts, 1);
  assert.equal(after[0]!.deferred_by, 'cap', 'the rule that decided its time stays recorded');
});

test('a cap deferral that lands in the user’s quiet hours waits until they end, and quiet hours decided its time', async () => {
  assert.equal((await putType('digestible', { cap: { max: 1, per: '24h' } })).statusCode, 200);
  // Quiet from 5 minutes to an hour from now (UTC, the user has no zone); the cap frees in 10 minutes.
  const hhmmss = (d: Date) => d.toISOString().slice(11, 19);
  const quietEnd = new Date(Math.floor((Date.now() + 3600_000) / 1000) * 1000);
  const user = await h.request({ method: 'PUT', url: '/v1/users/cap-quiet', payload: { email: 'cap-quiet@example.com', quietHours: { start: hhmmss(new Date(Date.now() + 300_000)), end: hhmmss(quietEnd) } } });
  assert.equal(user.statusCode, 200, user.body);
  const mail = { channels: ['email'] };
  const first = await send('cap-quiet', 'digestible', mail);
  await settled(first);
  await h.db.pool.query(`UPDATE cap_usage SET sent_at = now() - interval '23 hours 50 minutes' WHERE user_id = 'cap-quiet'`);
  const second = await send('cap-quiet', 'digestible', mail);
  const [held] = await eventually(async () => {
    const rows = await deliveriesOf(second);
    return rows[0]?.status === 'pending' && rows[0].deferred_by !== null ? rows : undefined;
  });
  assert.equal(held!.deferred_by, 'quiet-hours');
  assert.equal(held!.run_at.getTime(), quietEnd.getTime(), 'not when the cap frees (in 10 minutes) but when the quiet hours end');
});

test('a cap deferral that lands outside the user’s send window waits for its next opening, and the window decided its time', async () => {
  assert.equal((await putType('windowed', { cap: { max: 1, per: '24h' } })).statusCode, 200);
  // A send window (UTC) from a minute ago to 5 minutes from now; the cap frees in 10 minutes, after
  // it has closed, so the delivery waits for tomorrow's opening.
  const hhmmss = (d: Date) => d.toISOString().slice(11, 19);
  const opened = new Date(Math.floor((Date.now() - 60_000) / 1000) * 1000);
  const user = await h.request({ method: 'PUT', url: '/v1/users/cap-window', payload: { email: 'cap-window@example.com', sendWindow: { start: hhmmss(opened), end: hhmmss(new Date(Date.now() + 300_000)) } } });
  assert.equal(user.statusCode, 200, user.body);
  const mail = { channels: ['email'] };
  const first = await send('cap-window', 'windowed', mail);
  await settled(first);
  await h.db.pool.query(`UPDATE cap_usage SET sent_at = now() - interval '23 hours 50 minutes' WHERE user_id = 'cap-window'`);
  const second = await send('cap-window', 'windowed', mail);
  const [held] = await eventually(async () => {
    const rows = await deliveriesOf(second);
    return rows[0]?.status === 'pending' && rows[0].deferred_by !== null ? rows : undefined;
  });
  assert.equal(held!.deferred_by, 'send-window');
  assert.equal(held!.run_at.getTime(), opened.getTime() + 24 * 3600_000, 'not when the cap frees (in 10 minutes) but when the window opens again');
});

test('a cap with action drop records the delivery capped, with its event, and counts it in the notification', async () => {
  assert.equal((await putType('nudge', { cap: { max: 1, per: '10m', action: 'drop' } })).statusCode, 200);
  const first = await send('cap-bob', 'nudge');
  await settled(first);
  const second = await send('cap-bob', 'nudge');
  await settled(second, 'capped');
  const { rows: events } = await h.db.pool.query(`SELECT type, user_id, data FROM events WHERE item_id = $1 ORDER BY id`, [second]);
  assert.deepEqual(events.map((e) => e.type), ['notification:created', 'notification:capped']);
  assert.equal(events[1].user_id, 'cap-bob');
  assert.equal(events[1].data.type, 'nudge');
  assert.equal(events[1].data.channel, 'inbox');
  const view = (await h.request({ method: 'GET', url: `/v1/notifications/${second}` })).json();
  assert.equal(view.deliveries[0].status, 'capped');
  assert.equal(view.counts.capped, 1);
  const { rows: inbox } = await h.db.pool.query(`SELECT count(*)::int AS n FROM inbox_items WHERE notification_id = $1`, [second]);
  assert.equal(inbox[0].n, 0, 'nothing was delivered');
  // Another user of the same type is not affected.
  await settled(await send('cap-cy', 'nudge'));
});

test('workers sending at once never let more through than the cap', async () => {
  assert.equal((await putType('burst', { cap: { max: 2, per: '1h', action: 'drop' } })).statusCode, 200);
  const ids = await Promise.all(Array.from({ length: 8 }, () => send('cap-dee', 'burst')));
  const statuses = await eventually(async () => {
    const all = (await Promise.all(ids.map(deliveriesOf))).flat();
    return all.every((d) => d.status === 'sent' || d.status === 'capped') ? all.map((d) => d.status) : undefined;
  });
  assert.equal(statuses.filter((s) => s === 'sent').length, 2);
  assert.equal(statuses.filter((s) => s === 'capped').length, 6);
});

test('a cap on one channel counts and holds only that channel', async () => {
  assert.equal((await putType('chat', { cap: { max: 1, per: '1h', channel: 'inbox' } })).statusCode, 200);
  const a = await send('cap-eve', 'chat', { channels: ['inbox', 'webhook'] });
  await settled(a);
  const b = await send('cap-eve', 'chat', { channels: ['inbox', 'webhook'] });
  const rows = await eventually(async () => {
    const r = await deliveriesOf(b);
    return r.length === 2 && r.find((d) => d.channel === 'webhook')?.status === 'sent' && r.find((d) => d.channel === 'inbox')?.deferred_by === 'cap' ? r : undefined;
  });
  const inbox = rows.find((d) => d.channel === 'inbox')!;
  assert.equal(inbox.status, 'pending');
  assert.ok(inbox.run_at.getTime() > Date.now() + 59 * 60_000, 'held for the hour');
});

test('an attempt that waits for a retry, fails or was cut off by a crash gives its place back; a sent one keeps it', async () => {
  assert.equal((await putType('once', { cap: { max: 1, per: '1h', action: 'drop' } })).statusCode, 200);
  const ledger = async () => (await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM cap_usage WHERE user_id = 'cap-ivy'`)).rows[0]!.n;
  const retried = await send('cap-ivy', 'once', { channels: ['webhook'], title: 'Retry' });
  await eventually(async () => {
    const [d] = await deliveriesOf(retried);
    return d?.status === 'pending' && d.attempts === 1 ? d : undefined;
  }, 15_000, 'the first attempt to wait for its retry');
  assert.equal(await ledger(), 0, 'an attempt waiting for a retry does not count');
  await settled(await send('cap-ivy', 'once', { channels: ['webhook'], title: 'Fails' }), 'failed');
  assert.equal(await ledger(), 0, 'a failed attempt does not count');

  const sent = await send('cap-ivy', 'once', { channels: ['webhook'] });
  await settled(sent);
  assert.equal(await ledger(), 1, 'a sent delivery counts');
  await settled(await send('cap-ivy', 'once', { channels: ['webhook'] }), 'capped');
  assert.equal(await ledger(), 1, 'a capped delivery does not count');

  // A worker that died while sending: the dead-worker sweep (src/dispatch/liveness.ts) puts its
  // deliveries back to pending, and their places are free again until they pass the cap anew.
  const [d] = await deliveriesOf(sent);
  await h.db.pool.query(`UPDATE deliveries SET status = 'sending', locked_by = 'gone' WHERE id = $1`, [d!.id]);
  assert.equal(await ledger(), 1, 'a delivery being sent counts');
  await h.db.pool.query(`UPDATE deliveries SET status = 'pending', run_at = now() + interval '1 hour', locked_by = NULL WHERE id = $1`, [d!.id]);
  assert.equal(await ledger(), 0, 'swept back to pending, it no longer counts');
  await settled(await send('cap-ivy', 'once', { channels: ['webhook'] }));
});

test('a critical notification goes through the cap, and is not counted against it', async () => {
  assert.equal((await putType('alerts', { cap: { max: 1, per: '1h', action: 'drop' } })).statusCode, 200);
  await settled(await send('cap-fay', 'alerts'));
  const critical = await send('cap-fay', 'alerts', { priority: 'critical' });
  await settled(critical);
  const { rows } = await h.db.pool.query(`SELECT count(*)::int AS n FROM cap_usage WHERE user_id = 'cap-fay'`);
  assert.equal(rows[0].n, 1);
  await settled(await send('cap-fay', 'alerts'), 'capped');
});

test('a required type goes through its cap, as through quiet hours', async () => {
  assert.equal((await putType('receipts', { required: true, cap: { max: 1, per: '1h', action: 'drop' } })).statusCode, 200);
  const ids = [await send('cap-hal', 'receipts'), await send('cap-hal', 'receipts')];
  for (const id of ids) await settled(id);
});

test('a cap without a type, or a type without a cap, changes nothing', async () => {
  assert.equal((await putType('plain', {})).statusCode, 200);
  const ids = [await send('cap-gus', 'plain'), await send('cap-gus', 'plain')];
  for (const id of ids) await settled(id);
  const { rows } = await h.db.pool.query(`SELECT count(*)::int AS n FROM cap_usage WHERE user_id = 'cap-gus'`);
  assert.equal(rows[0].n, 0, 'no ledger rows for a type without a cap');
});

test('caps are shown on the type and can be removed', async () => {
  await putType('shown', { cap: { max: 5, per: '7d', action: 'drop', channel: 'push' } });
  const got = (await h.request({ method: 'GET', url: '/v1/apps/default/notification-types/shown' })).json();
  assert.deepEqual(got.cap, { max: 5, per: '7d', action: 'drop', channel: 'push' });
  await putType('shown', { cap: { max: 2, per: '90m' } });
  assert.deepEqual((await h.request({ method: 'GET', url: '/v1/apps/default/notification-types/shown' })).json().cap, { max: 2, per: '90m', action: 'defer' });
  await putType('shown', { cap: null });
  assert.equal((await h.request({ method: 'GET', url: '/v1/apps/default/notification-types/shown' })).json().cap, null);
});

test('caps of zero, windows of zero or over a year, and unknown fields answer 400 naming the field; nothing is stored', async () => {
  await putType('strict', { cap: { max: 3, per: '1h' } });
  const cases: Array<[object, string]> = [
    [{ max: 0, per: '1h' }, 'body.cap.max'],
    [{ max: -1, per: '1h' }, 'body.cap.max'],
    [{ max: 1.5, per: '1h' }, 'body.cap.max'],
    [{ max: 1, per: '0h' }, 'body.cap.per'],
    [{ max: 1, per: '0s' }, 'body.cap.per'],
    [{ max: 1, per: '-5m' }, 'body.cap.per'],
    [{ max: 1, per: '400d' }, 'body.cap.per'],
    [{ max: 1, per: '1 hour' }, 'body.cap.per'],
    [{ max: 1, per: '1h', action: 'shout' }, 'body.cap.action'],
    [{ max: 1, per: '1h', channel: 'sms' }, 'body.cap.channel'],
    [{ per: '1h' }, 'body.cap.max'],
    [{ max: 1 }, 'body.cap.per'],
    [{ max: 1, per: '1h', extra: true }, 'body.cap.extra'],
  ];
  for (const [cap, field] of cases) {
    const res = await putType('strict', { cap });
    assert.equal(res.statusCode, 400, `${JSON.stringify(cap)}: ${res.body}`);
    const err = res.json().error;
    assert.equal(err.code, 'VALIDATION_FAILED');
    assert.ok(JSON.stringify(err.details).includes(field), `${JSON.stringify(cap)} names ${field}: ${JSON.stringify(err.details)}`);
  }
  assert.deepEqual((await h.request({ method: 'GET', url: '/v1/apps/default/notification-types/strict' })).json().cap, { max: 3, per: '1h', action: 'defer' });
});

test('a cap counts a user\'s push deliveries to devices of every app: the type and its cap are the notification\'s app\'s', async () => {
  assert.equal((await h.request({ method: 'PUT', url: '/v1/apps/cap-second', payload: { name: 'Second app' } })).statusCode, 200);
  assert.equal((await putType('multi', { name: 'Multi-app', cap: { max: 2, per: '24h' } })).statusCode, 200);
  for (const appId of ['default', 'cap-second']) {
    const res = await h.request({ method: 'POST', url: '/v1/users/cap-multi/devices', payload: { platform: 'ios', token: (appId === 'default' ? 'a' : 'b').repeat(64), appId } });
    assert.equal(res.statusCode, 201, res.body);
  }
  const first = await send('cap-multi', 'multi', { channels: ['push'] });
  await settled(first);
  const apps = (await h.db.pool.query<{ app_id: string }>(`SELECT app_id FROM deliveries WHERE notification_id = $1 ORDER BY app_id`, [first])).rows.map((r) => r.app_id);
  assert.deepEqual(apps, ['cap-second', 'default'], 'one push delivery per device, each with its device\'s app');
  const ledger = await h.db.pool.query<{ app_id: string }>(`SELECT app_id FROM cap_usage WHERE user_id = 'cap-multi'`);
  assert.deepEqual(ledger.rows.map((r) => r.app_id), ['default', 'default'], 'both counted against the type\'s app');
  const second = await send('cap-multi', 'multi', { channels: ['push'] });
  await eventually(async () => {
    const rows = await deliveriesOf(second);
    return rows.length === 2 && rows.every((d) => d.status === 'pending' && d.deferred_by === 'cap') ? rows : undefined;
  }, 15_000, 'both deliveries of the second notification deferred by the cap');
});
