import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { RetentionJob } from '../src/retention/job.ts';
import { DigestCloser } from '../src/scheduler/digests.ts';

/** Retention (docs/privacy.md § Retention): what is old goes, in small batches; nothing pending or unpublished does. */
let h: TestHarness;
before(async () => {
  h = await createHarness();
});
after(async () => h.close());

async function send(body: Record<string, unknown>): Promise<string> {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { channels: ['inbox'], title: 'x', ...body } });
  assert.equal(res.statusCode, 202, res.body);
  return res.json().id;
}

/** Make a notification `days` old, its deliveries in `status`, with an inbox item of the same age. */
async function age(id: string, days: number, status: string): Promise<void> {
  await h.db.pool.query(`UPDATE notifications SET created_at = now() - make_interval(days => $2), send_at = LEAST(send_at, now() - make_interval(days => $2)) WHERE id = $1`, [id, days]);
  await h.db.pool.query(`UPDATE deliveries SET status = $2, created_at = now() - make_interval(days => $3) WHERE notification_id = $1`, [id, status, days]);
  const { rows } = await h.db.pool.query<{ user_id: string }>(`SELECT user_ids[1] AS user_id FROM notifications WHERE id = $1`, [id]);
  await h.db.pool.query(
    `INSERT INTO inbox_items (id, user_id, notification_id, title, created_at) VALUES ($1 || '-inbox', $2, $1, 'x', now() - make_interval(days => $3))`,
    [id, rows[0]!.user_id, days],
  );
}

const exists = async (table: string, column: string, id: string) => ((await h.db.pool.query(`SELECT 1 FROM ${table} WHERE ${column} = $1`, [id])).rowCount ?? 0) > 0;

test('a pass purges finished notifications, deliveries, inbox items and published events past their age, per app, and nothing pending or unpublished', async () => {
  assert.equal((await h.request({ method: 'PUT', url: '/v1/apps/brief', payload: { name: 'Brief', retentionDays: 1 } })).json().retentionDays, 1);
  for (const u of ['ret-a', 'ret-b']) await h.request({ method: 'PUT', url: `/v1/users/${u}`, payload: {} });
  const oldSent = await send({ to: { userIds: ['ret-a', 'ret-b'] } });
  const oldFailed = await send({ to: { userId: 'ret-a' } });
  const oldPending = await send({ to: { userIds: ['ret-a', 'ret-b'] } });
  const recent = await send({ to: { userId: 'ret-a' } });
  const briefOld = await send({ to: { userId: 'ret-a' }, appId: 'brief' });
  const defaultTwoDays = await send({ to: { userId: 'ret-a' } });
  const scheduled = await send({ to: { userId: 'ret-a' }, sendAt: new Date(Date.now() + 86_400_000).toISOString() });
  await age(oldSent, 40, 'sent');
  await age(oldFailed, 40, 'failed');
  await age(oldPending, 40, 'sent');
  await h.db.pool.query(`UPDATE deliveries SET status = 'pending' WHERE id = (SELECT min(id) FROM deliveries WHERE notification_id = $1)`, [oldPending]);
  await age(recent, 1, 'sent');
  await age(briefOld, 2, 'sent');
  await age(defaultTwoDays, 2, 'sent');
  await h.db.pool.query(`UPDATE notifications SET created_at = now() - interval '40 days' WHERE id = $1`, [scheduled]);

  await h.db.pool.query(`UPDATE events SET published_at = now()`);
  const { rows: ev } = await h.db.pool.query<{ id: string }>(
    `INSERT INTO events (type, item_type, item_id, created_at, published_at) VALUES
       ('user:updated', 'user', 'old-published', now() - interval '40 days', now() - interval '40 days'),
       ('user:updated', 'user', 'old-unpublished', now() - interval '40 days', NULL),
       ('user:updated', 'user', 'new-published', now(), now()) RETURNING item_id`,
  );
  assert.equal(ev.length, 3);

  const job = new RetentionJob(h.db.pool, h.ctx.log, { days: 30, batch: 2, intervalSeconds: 3600, relayPublishes: true, pauseMs: 0 });
  const removed = await job.runIfDue();
  assert.ok(removed, 'the first pass is due');
  assert.equal(await job.runIfDue(), undefined, 'the next is an interval away (for every scheduler: the due time is in the database)');

  for (const gone of [oldSent, oldFailed, briefOld]) {
    assert.equal(await exists('notifications', 'id', gone), false, `${gone} is purged`);
    assert.equal(await exists('deliveries', 'notification_id', gone), false);
    assert.equal(await exists('inbox_items', 'notification_id', gone), false);
  }
  for (const kept of [oldPending, recent, defaultTwoDays, scheduled]) {
    assert.equal(await exists('notifications', 'id', kept), true, `${kept} is kept`);
  }
  const pendingDeliveries = await h.db.pool.query(`SELECT status FROM deliveries WHERE notification_id = $1 ORDER BY id`, [oldPending]);
  assert.deepEqual(pendingDeliveries.rows.map((r) => r.status), ['pending', 'sent'], 'an unfinished notification keeps every delivery');
  assert.equal(await exists('inbox_items', 'notification_id', recent), true);
  assert.equal(await exists('events', 'item_id', 'old-published'), false);
  assert.equal(await exists('events', 'item_id', 'old-unpublished'), true, 'the relay has not published it yet');
  assert.equal(await exists('events', 'item_id', 'new-published'), true);
  assert.equal(removed!.notifications, 3);
  assert.equal(removed!.deliveries, 4);

  // Without a relay events are never published: age alone decides.
  const noRelay = new RetentionJob(h.db.pool, h.ctx.log, { days: 30, batch: 2, intervalSeconds: 3600, relayPublishes: false, pauseMs: 0 });
  await noRelay.pass();
  assert.equal(await exists('events', 'item_id', 'old-unpublished'), false);
});

test('the purge skips rows a worker holds instead of waiting for them', async () => {
  await h.request({ method: 'PUT', url: '/v1/users/ret-held', payload: {} });
  const held = await send({ to: { userId: 'ret-held' } });
  await age(held, 40, 'sent');
  const client = await h.db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT 1 FROM deliveries WHERE notification_id = $1 FOR UPDATE`, [held]);
    const job = new RetentionJob(h.db.pool, h.ctx.log, { days: 30, batch: 2, intervalSeconds: 3600, relayPublishes: true, pauseMs: 0 });
    await job.pass();
    assert.equal(await exists('deliveries', 'notification_id', held), true, 'the locked delivery waits for the next pass');
    await client.query('ROLLBACK');
    await job.pass();
    assert.equal(await exists('notifications', 'id', held), false);
  } finally {
    client.release();
  }
});

test('a pass purges closed digests and their items past their age, per app, and never an open digest or an item still waiting', async () => {
  assert.equal((await h.request({ method: 'PUT', url: '/v1/apps/brief-dg', payload: { name: 'Brief digests', retentionDays: 1 } })).json().retentionDays, 1);
  await h.request({ method: 'PUT', url: '/v1/users/ret-dg', payload: {} });
  const closer = new DigestCloser(h.db.pool, h.ctx.log);
  /** A digest of `items` notifications for ret-dg under `key`, closed `closedDaysAgo` days ago (or left open). */
  async function digest(key: string, items: number, closedDaysAgo: number | 'open', appId?: string): Promise<{ id: string; items: string[] }> {
    const ids: string[] = [];
    for (let i = 0; i < items; i++) ids.push(await send({ to: { userId: 'ret-dg' }, digest: { key, window: '1h' }, ...(appId ? { appId } : {}) }));
    const { rows } = await h.db.pool.query<{ id: string }>(`SELECT id::text FROM digests WHERE user_id = 'ret-dg' AND key = $1 AND status = 'open'`, [key]);
    const id = rows[0]!.id;
    if (closedDaysAgo === 'open') {
      await h.db.pool.query(`UPDATE digests SET opened_at = now() - interval '40 days' WHERE id = $1`, [id]);
    } else {
      await h.db.pool.query(`UPDATE digests SET closes_at = now() WHERE id = $1`, [id]);
      const closed = await closer.closeOne();
      assert.equal(closed.kind === 'closed' && closed.digestId, id);
      await h.db.pool.query(`UPDATE digests SET opened_at = now() - make_interval(days => $2 + 1), closed_at = now() - make_interval(days => $2) WHERE id = $1`, [id, closedDaysAgo]);
    }
    return { id, items: ids };
  }
  const old = await digest('ret-old', 3, 40);
  const recent = await digest('ret-recent', 1, 5);
  const open = await digest('ret-open', 2, 'open');
  const briefOld = await digest('ret-brief', 1, 2, 'brief-dg');
  const waiting = await digest('ret-waiting', 2, 40);
  // An item of a closed digest whose held delivery is somehow still pending: it still waits.
  await h.db.pool.query(`UPDATE deliveries SET status = 'pending' WHERE notification_id = $1`, [waiting.items[0]]);

  const job = new RetentionJob(h.db.pool, h.ctx.log, { days: 30, batch: 2, intervalSeconds: 3600, relayPublishes: false, pauseMs: 0 });
  const removed = await job.pass();

  const digestExists = (id: string) => exists('digests', 'id::text', id);
  const itemsOf = async (id: string) => (await h.db.pool.query(`SELECT 1 FROM digest_items WHERE digest_id = $1`, [id])).rowCount;
  for (const gone of [old, briefOld]) {
    assert.equal(await digestExists(gone.id), false, `digest ${gone.id} is purged`);
    assert.equal(await itemsOf(gone.id), 0);
  }
  assert.equal(await digestExists(recent.id), true, 'closed five days ago: kept');
  assert.equal(await itemsOf(recent.id), 1);
  assert.equal(await digestExists(open.id), true, 'an open digest is kept whatever its age');
  assert.equal(await itemsOf(open.id), 2);
  assert.equal(await digestExists(waiting.id), true, 'a digest with an item still waiting is kept');
  assert.deepEqual((await h.db.pool.query(`SELECT notification_id FROM digest_items WHERE digest_id = $1`, [waiting.id])).rows.map((r) => r.notification_id), [waiting.items[0]], 'only the finished item went');
  assert.equal(removed.digests, 2);
  assert.equal(removed.digest_items, 3 + 1 + 1);
  for (const id of old.items) assert.equal(await exists('notifications', 'id', id), true, 'the items\' notifications follow their own age');
});

test('a pass removes the frequency-cap ledger rows no cap window can reach, keeps a day at least and a longer cap\'s whole window, whatever the retention', async () => {
  await h.db.pool.query(
    `INSERT INTO notification_types (app_id, key, cap) VALUES
       ('default', 'ret-hourly', '{"max": 1, "perSeconds": 3600, "action": "defer"}'),
       ('default', 'ret-weekly', '{"max": 1, "perSeconds": 604800, "action": "defer"}')`,
  );
  await h.db.pool.query(
    `INSERT INTO cap_usage (delivery_id, app_id, user_id, type_key, channel, sent_at) VALUES
       (910001, 'default', 'ret-cap', 'ret-hourly', 'push', now() - interval '2 days'),   -- past a day and its hour: gone
       (910002, 'default', 'ret-cap', 'ret-hourly', 'push', now() - interval '3 hours'),  -- past its hour, within the day kept: stays
       (910003, 'default', 'ret-cap', 'ret-weekly', 'push', now() - interval '2 days'),   -- inside its week: stays
       (910004, 'default', 'ret-cap', 'ret-weekly', 'push', now() - interval '8 days'),   -- past its week: gone
       (910005, 'default', 'ret-cap', 'ret-gone', 'push', now() - interval '2 days')`,    // its type is gone: a day is kept, then gone
  );
  // Retention 0 (keep for ever) does not keep the ledger: it is bookkeeping, not a user's data.
  const job = new RetentionJob(h.db.pool, h.ctx.log, { days: 0, batch: 2, intervalSeconds: 3600, relayPublishes: false, pauseMs: 0 });
  const removed = await job.pass();
  const { rows } = await h.db.pool.query<{ id: string }>(`SELECT delivery_id::text AS id FROM cap_usage WHERE user_id = 'ret-cap' ORDER BY delivery_id`);
  assert.deepEqual(rows.map((r) => r.id), ['910002', '910003']);
  assert.equal(removed.cap_usage, 3);
});
