import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { eventually, startEngine } from './helpers/engine.ts';
import { asUser } from './helpers/user-token.ts';
import { BroadcastFanOut } from '../src/scheduler/fan-out.ts';

/** Broadcasts: fan-out in chunks from a cursor, progress, paging, cancel part-way, audiences fixed at start. */

let h: TestHarness;
let fanOut: BroadcastFanOut;
before(async () => {
  h = await createHarness();
  fanOut = new BroadcastFanOut(h.db.pool, h.ctx.log, { chunkSize: 1000 });
  assert.ok((await h.request({ method: 'PUT', url: '/v1/apps/elsewhere', payload: { name: 'Elsewhere' } })).statusCode < 300);
});
after(async () => {
  await h.close();
});

async function topicWith(key: string, n: number, appId = 'default'): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${key}-u${String(i).padStart(6, '0')}`);
  await h.db.pool.query(`INSERT INTO users (id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, [ids]);
  assert.equal((await h.request({ method: 'PUT', url: `/v1/topics/${key}`, payload: { appId } })).statusCode, 200);
  for (let i = 0; i < n; i += 10_000) {
    const res = await h.request({ method: 'POST', url: `/v1/topics/${key}/subscribers`, payload: { appId, userIds: ids.slice(i, i + 10_000) } });
    assert.equal(res.statusCode, 200, res.body);
  }
  return ids;
}

async function send(body: object): Promise<string> {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { title: 'Kick-off', channels: ['inbox'], ...body } });
  assert.equal(res.statusCode, 202, res.body);
  return res.json().id;
}

async function drain(): Promise<number> {
  let chunks = 0;
  while ((await fanOut.step()).kind === 'chunk') chunks++;
  return chunks;
}

async function perUser(id: string): Promise<{ deliveries: number; users: number }> {
  const { rows } = await h.db.pool.query(`SELECT count(*)::int AS deliveries, count(DISTINCT user_id)::int AS users FROM deliveries WHERE notification_id = $1`, [id]);
  return rows[0];
}

const get = async (id: string) => (await h.request({ method: 'GET', url: `/v1/notifications/${id}` })).json();

test('a broadcast to a topic fans out in chunks: one delivery per subscriber, progress on the notification', async () => {
  const ids = await topicWith('match', 2500);
  const id = await send({ to: { topic: 'match' } });
  const waiting = await get(id);
  assert.equal(waiting.audience.kind, 'topic');
  assert.equal(waiting.audience.topic, 'match');
  assert.equal(waiting.audience.complete, false);
  assert.equal(waiting.audience.fannedOut, 0);
  assert.deepEqual(waiting.userIds, []);

  assert.equal((await fanOut.step()).kind, 'chunk');
  // Subscribed after the fan-out began: not in this broadcast's audience.
  await h.db.pool.query(`INSERT INTO users (id) VALUES ('match-late')`);
  await h.request({ method: 'POST', url: '/v1/topics/match/subscribers', payload: { userIds: ['match-late'] } });
  const midway = await get(id);
  assert.equal(midway.audience.recipients, 2500);
  assert.equal(midway.audience.fannedOut, 1000);
  assert.equal(midway.counts.pending, 1000);

  assert.equal(await drain(), 2);
  const done = await get(id);
  assert.equal(done.audience.complete, true);
  assert.equal(done.audience.fannedOut, 2500);
  assert.equal(done.audience.deliveries, 2500);
  assert.equal(done.counts.pending, 2500);
  assert.equal(done.deliveries.length, 100);
  assert.deepEqual(await perUser(id), { deliveries: 2500, users: 2500 });

  // Every delivery, a page at a time, each once.
  const seen = new Set<string>();
  let cursor: string | null = null;
  do {
    const res = await h.request({ method: 'GET', url: `/v1/notifications/${id}/deliveries?limit=1000${cursor ? `&cursor=${cursor}` : ''}` });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { items: Array<{ userId: string }>; nextCursor: string | null };
    for (const d of body.items) seen.add(d.userId);
    cursor = body.nextCursor;
  } while (cursor);
  assert.deepEqual([...seen].sort(), ids);
  const pending = (await h.request({ method: 'GET', url: `/v1/notifications/${id}/deliveries?status=sent` })).json();
  assert.deepEqual(pending.items, []);

  const { rows } = await h.db.pool.query(`SELECT type FROM events WHERE item_id = $1 ORDER BY id`, [id]);
  assert.deepEqual(rows.map((r) => r.type), ['notification:created', 'notification:fan-out-started', 'notification:fanned-out']);
});

test('a recipient sees the broadcast through /v1/me with only their own delivery; others do not see it', async () => {
  await topicWith('mine', 3);
  const id = await send({ to: { topic: 'mine' } });
  await drain();
  const own = await h.app.inject({ method: 'GET', url: `/v1/me/notifications/${id}`, headers: await asUser('mine-u000001') });
  assert.equal(own.statusCode, 200, own.body);
  assert.deepEqual(own.json().userIds, ['mine-u000001']);
  assert.deepEqual(own.json().deliveries.map((d: { userId: string }) => d.userId), ['mine-u000001']);
  assert.equal(own.json().audience, undefined);
  const stranger = await h.app.inject({ method: 'GET', url: `/v1/me/notifications/${id}`, headers: await asUser('not-subscribed') });
  assert.equal(stranger.statusCode, 404);
});

test('a broadcast is in its recipients\' notification lists (/v1/me and the admin route) beside what was sent to them directly', async () => {
  await topicWith('listed', 3);
  const direct = await send({ to: { userId: 'listed-u000002' }, title: 'Direct' });
  const id = await send({ to: { topic: 'listed' } });
  const before = await h.app.inject({ method: 'GET', url: '/v1/me/notifications', headers: await asUser('listed-u000002') });
  assert.deepEqual(before.json().items.map((n: { id: string }) => n.id), [direct], 'not fanned out yet: not received yet');
  await drain();
  const mine = await h.app.inject({ method: 'GET', url: '/v1/me/notifications', headers: await asUser('listed-u000002') });
  assert.equal(mine.statusCode, 200, mine.body);
  assert.deepEqual(mine.json().items.map((n: { id: string }) => n.id), [id, direct]);
  assert.equal(mine.json().total, 2);
  const broadcast = mine.json().items[0];
  assert.deepEqual(broadcast.userIds, ['listed-u000002'], 'a recipient does not learn the audience');
  assert.deepEqual(broadcast.deliveries.map((d: { userId: string }) => d.userId), ['listed-u000002']);
  const paged = await h.app.inject({ method: 'GET', url: '/v1/me/notifications?limit=1&offset=1', headers: await asUser('listed-u000002') });
  assert.deepEqual(paged.json().items.map((n: { id: string }) => n.id), [direct]);
  const admin = await h.request({ method: 'GET', url: '/v1/users/listed-u000001/notifications' });
  assert.deepEqual(admin.json().items.map((n: { id: string }) => n.id), [id]);
  const stranger = await h.app.inject({ method: 'GET', url: '/v1/me/notifications', headers: await asUser('not-listed') });
  assert.deepEqual(stranger.json().items, []);
  assert.equal(stranger.json().total, 0);
});

test('cancel part-way stops the fan-out and cancels what is pending', async () => {
  await topicWith('cancelme', 3000);
  const id = await send({ to: { topic: 'cancelme' } });
  assert.equal((await fanOut.step()).kind, 'chunk');
  assert.equal((await h.request({ method: 'DELETE', url: `/v1/notifications/${id}` })).statusCode, 204);
  assert.equal(await drain(), 0);
  const n = await get(id);
  assert.equal(n.status, 'cancelled');
  assert.equal(n.audience.status, 'cancelled');
  assert.equal(n.audience.fannedOut, 1000);
  assert.deepEqual(n.counts, { pending: 0, sending: 0, sent: 0, failed: 0, expired: 0, cancelled: 1000, capped: 0, digested: 0 });
  assert.deepEqual(await perUser(id), { deliveries: 1000, users: 1000 });
});

test('to: {all: true} reaches every user once; a scheduled broadcast waits for its time', async () => {
  const { rows } = await h.db.pool.query(`SELECT count(*)::int AS n FROM users`);
  const everyone = rows[0].n as number;
  const id = await send({ to: { all: true } });
  await drain();
  assert.deepEqual(await perUser(id), { deliveries: everyone, users: everyone });
  assert.equal((await get(id)).audience.kind, 'all');

  await topicWith('later', 10);
  const at = new Date(Date.now() + 3_600_000);
  const scheduled = await send({ to: { topic: 'later' }, sendAt: at.toISOString() });
  assert.equal(await drain(), 0);
  assert.equal((await get(scheduled)).status, 'scheduled');
  await h.db.pool.query(`UPDATE broadcasts SET start_at = now() WHERE notification_id = $1`, [scheduled]);
  assert.equal(await drain(), 1);
  const { rows: due } = await h.db.pool.query(`SELECT DISTINCT due_at FROM deliveries WHERE notification_id = $1`, [scheduled]);
  assert.deepEqual(due.map((r) => r.due_at.toISOString()), [at.toISOString()]);
});

test('broadcast deliveries are sent by the workers; progress counts them', async () => {
  await topicWith('sendme', 300);
  // Only this test's deliveries for the workers: the earlier tests' thousands stay unsent.
  await h.db.pool.query(`UPDATE deliveries SET status = 'cancelled' WHERE status = 'pending'`);
  const engine = await startEngine(h);
  try {
    const id = await send({ to: { topic: 'sendme' }, channels: ['inbox'] });
    await drain();
    await eventually(async () => (await get(id)).counts.sent === 300, 60_000, 'all 300 sent');
    const n = await get(id);
    assert.equal(n.status, 'sent');
    const { rows } = await h.db.pool.query(`SELECT count(*)::int AS n FROM inbox_items WHERE notification_id = $1`, [id]);
    assert.equal(rows[0].n, 300);
  } finally {
    await engine.stop();
  }
});

test('bad broadcasts answer 4xx and store nothing', async () => {
  await topicWith('elsewhere-topic', 1, 'elsewhere');
  const before = (await h.db.pool.query(`SELECT (SELECT count(*) FROM notifications) n, (SELECT count(*) FROM broadcasts) b`)).rows[0];
  const cases: Array<[object, number, string]> = [
    [{ to: { topic: 'no-such-topic' } }, 422, 'UNKNOWN_TOPIC'],
    [{ to: { topic: 'elsewhere-topic' } }, 422, 'UNKNOWN_TOPIC'],
    [{ to: { topic: 'bad key!' } }, 400, 'VALIDATION_FAILED'],
    [{ to: { all: false } }, 400, 'VALIDATION_FAILED'],
    [{ to: { topic: 'match', userId: 'x' } }, 400, 'VALIDATION_FAILED'],
  ];
  for (const [body, status, code] of cases) {
    const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { title: 'x', ...body } });
    assert.equal(res.statusCode, status, res.body);
    assert.equal(res.json().error.code, code, res.body);
  }
  const bad = await h.request({ method: 'GET', url: `/v1/notifications/whatever/deliveries?cursor=${Buffer.from('["x"]').toString('base64url')}` });
  assert.equal(bad.statusCode, 400, bad.body);
  assert.equal((await h.request({ method: 'GET', url: `/v1/notifications/whatever/deliveries?limit=5000` })).statusCode, 400);
  const afterCounts = (await h.db.pool.query(`SELECT (SELECT count(*) FROM notifications) n, (SELECT count(*) FROM broadcasts) b`)).rows[0];
  assert.deepEqual(afterCounts, before);
});

test('a reminder can broadcast each occurrence to a topic; only API keys may ask for that', async () => {
  const members = await topicWith('rem-topic', 5);
  const date = new Date(Date.now() + 3_600_000).toISOString();
  const res = await h.request({ method: 'POST', url: '/v1/users/rem-owner/reminders', payload: { date, message: 'Doors open', channels: ['inbox'], topic: 'rem-topic' } });
  assert.equal(res.statusCode, 201, res.body);
  assert.equal(res.json().topic, 'rem-topic');
  const { rows } = await h.db.pool.query(`SELECT n.id FROM notifications n JOIN broadcasts b ON b.notification_id = n.id WHERE n.reminder_id = $1 AND n.cancelled_at IS NULL`, [res.json().id]);
  assert.equal(rows.length, 1);
  const id = rows[0].id as string;
  await h.db.pool.query(`UPDATE broadcasts SET start_at = now() WHERE notification_id = $1`, [id]);
  await drain();
  const { rows: got } = await h.db.pool.query(`SELECT user_id FROM deliveries WHERE notification_id = $1 ORDER BY user_id`, [id]);
  assert.deepEqual(got.map((r) => r.user_id), members);

  // Moving the reminder cancels the waiting broadcast of the old time.
  const moved = await h.request({ method: 'PATCH', url: `/v1/users/rem-owner/reminders/${res.json().id}`, payload: { date: new Date(Date.now() + 7_200_000).toISOString() } });
  assert.equal(moved.statusCode, 200, moved.body);
  const { rows: open } = await h.db.pool.query(`SELECT b.status FROM broadcasts b JOIN notifications n ON n.id = b.notification_id WHERE n.reminder_id = $1 ORDER BY b.created_at`, [res.json().id]);
  assert.deepEqual(open.map((r) => r.status), ['complete', 'waiting']);

  const asEndUser = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: await asUser('rem-owner'), payload: { date, message: 'x', topic: 'rem-topic' } });
  assert.equal(asEndUser.statusCode, 403, asEndUser.body);
  const unknown = await h.request({ method: 'POST', url: '/v1/users/rem-owner/reminders', payload: { date, message: 'x', topic: 'nope' } });
  assert.equal(unknown.statusCode, 422, unknown.body);
  assert.equal(unknown.json().error.code, 'UNKNOWN_TOPIC');
});
