import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { asUser } from './helpers/user-token.ts';
import { eventually, spawnHerald, startEngine, type RunningEngine } from './helpers/engine.ts';
import { DigestCloser } from '../src/scheduler/digests.ts';
import { BroadcastFanOut } from '../src/scheduler/fan-out.ts';
import { notifyDigestsDue } from '../src/db/wakeup.ts';
import { DigestStep } from '../src/dispatch/digest-step.ts';
import { claimDue } from '../src/dispatch/repository.ts';
import type { NotificationInput } from '../src/notifications/types.ts';

/**
 * Digests (docs/timing.md): collected per user and key, delivered as one notification when the
 * window closes, never losing or repeating an item — also across `kill -9` of the process that
 * closes them. Time moves by setting a digest's close time to now, never by waiting an hour.
 */

let h: TestHarness;
let engine: RunningEngine;
let closer: DigestCloser;
const children: ChildProcess[] = [];

before(async () => {
  h = await createHarness();
  engine = await startEngine(h);
  closer = new DigestCloser(h.db.pool, h.ctx.log);
  await closer.start();
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await closer.stop();
  await engine.stop();
  await h.close();
});

const item = (userId: string, i: number, key = 'likes', extra: Partial<NotificationInput> = {}) => ({ to: { userId }, title: `like ${i}`, body: `someone liked post ${i}`, channels: ['inbox'], digest: { key, window: '1h' }, ...extra });

async function openDigest(userId: string, key: string) {
  const { rows } = await h.db.pool.query(`SELECT id::text, items, closes_at, opened_at, status FROM digests WHERE user_id = $1 AND key = $2 AND status = 'open'`, [userId, key]);
  return rows[0];
}

/** The window ends now (as the clock would have it an hour later). */
async function closeNow(userId: string, key: string): Promise<void> {
  await h.db.pool.query(`UPDATE digests SET closes_at = now() WHERE user_id = $1 AND key = $2 AND status = 'open'`, [userId, key]);
  await notifyDigestsDue(h.db.pool, new Date());
}

async function inboxOf(userId: string): Promise<Array<{ title: string; body: string; data: Record<string, any>; notification_id: string }>> {
  const { rows } = await h.db.pool.query(`SELECT title, body, data, notification_id FROM inbox_items WHERE user_id = $1 ORDER BY created_at`, [userId]);
  return rows;
}

test('fifty notifications in a digest are delivered as one that counts all fifty', async () => {
  const res = await h.request({ method: 'POST', url: '/v1/notifications/batch', payload: { items: Array.from({ length: 50 }, (_, i) => item('dg-ada', i)) } });
  assert.equal(res.statusCode, 200, res.body);
  const ids: string[] = res.json().items.map((r: { id: string }) => r.id);
  assert.equal(new Set(ids).size, 50);
  const open = await openDigest('dg-ada', 'likes');
  assert.equal(open.items, 50);
  const window = open.closes_at.getTime() - open.opened_at.getTime();
  assert.ok(Math.abs(window - 3600_000) < 1000, `closes an hour after the first item (${window} ms)`);

  // Collected, not delivered: the deliveries wait, showing the rule that holds them.
  const view = (await h.request({ method: 'GET', url: `/v1/notifications/${ids[7]}` })).json();
  assert.equal(view.deliveries[0].status, 'pending');
  assert.equal(view.deliveries[0].deferredBy, 'digest');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await inboxOf('dg-ada')).length, 0, 'nothing delivered while the window is open');

  await closeNow('dg-ada', 'likes');
  const inbox = await eventually(async () => {
    const rows = await inboxOf('dg-ada');
    return rows.length > 0 ? rows : undefined;
  });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await inboxOf('dg-ada')).length, 1, 'one notification for the fifty');
  const [digest] = inbox;
  assert.equal(digest!.title, '50 new notifications');
  assert.match(digest!.body, /^like 0, like 1, .*like 9 and 40 more$/);
  assert.equal(digest!.data.digest.count, 50);
  assert.equal(digest!.data.digest.key, 'likes');
  assert.deepEqual(digest!.data.digest.items.map((i: { title: string }) => i.title), Array.from({ length: 10 }, (_, i) => `like ${i}`));
  assert.equal(digest!.data.digest.newest.title, 'like 49');
  assert.equal(digest!.data.digest.newest.id, ids[49]);

  // Every item ended `digested`, once; the digest records them all.
  const { rows } = await h.db.pool.query(`SELECT status, count(*)::int AS n FROM deliveries WHERE notification_id = ANY ($1) GROUP BY status`, [ids]);
  assert.deepEqual(rows, [{ status: 'digested', n: 50 }]);
  const item7 = (await h.request({ method: 'GET', url: `/v1/notifications/${ids[7]}` })).json();
  assert.equal(item7.status, 'digested');
  assert.equal(item7.counts.digested, 1);
  const { rows: closed } = await h.db.pool.query(`SELECT status, items, notification_id FROM digests WHERE user_id = 'dg-ada'`);
  assert.deepEqual(closed, [{ status: 'closed', items: 50, notification_id: digest!.notification_id }]);
  const { rows: events } = await h.db.pool.query(`SELECT data FROM events WHERE type = 'digest:closed' AND user_id = 'dg-ada'`);
  assert.equal(events.length, 1);
  assert.deepEqual([...events[0].data.itemIds].sort(), [...ids].sort());

  // The next item opens a new digest.
  await h.request({ method: 'POST', url: '/v1/notifications', payload: item('dg-ada', 50) });
  assert.equal((await openDigest('dg-ada', 'likes')).items, 1);
});

test('a digest template renders the count with a plural; a cancelled item is left out', async () => {
  const put = await h.request({
    method: 'PUT',
    url: '/v1/apps/default/templates/likes-digest',
    payload: {
      variables: { count: { type: 'number', required: true }, newest: { type: 'string' } },
      defaultLocale: 'en',
      locales: { en: { inbox: { title: '{count, plural, one {# new like} other {# new likes}}', body: 'latest: {newest}' } } },
    },
  });
  assert.equal(put.statusCode, 200, put.body);
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: item('dg-bo', i, 'likes', { digest: { key: 'likes', window: '30m', template: { key: 'likes-digest' } } } as Partial<NotificationInput>) });
    assert.equal(res.statusCode, 202, res.body);
    ids.push(res.json().id);
  }
  assert.equal((await h.request({ method: 'DELETE', url: `/v1/notifications/${ids[3]}` })).statusCode, 204);
  await closeNow('dg-bo', 'likes');
  const [digest] = await eventually(async () => {
    const rows = await inboxOf('dg-bo');
    return rows.length > 0 ? rows : undefined;
  });
  assert.equal(digest!.title, '3 new likes');
  assert.equal(digest!.body, 'latest: like 2');
  assert.equal(digest!.data.digest.count, 3);
  const { rows } = await h.db.pool.query(`SELECT status FROM deliveries WHERE notification_id = $1`, [ids[3]]);
  assert.deepEqual(rows, [{ status: 'cancelled' }]);
});

test('digests are per user and key', async () => {
  await h.request({ method: 'POST', url: '/v1/notifications', payload: { ...item('dg-cy', 1), to: { userIds: ['dg-cy', 'dg-di'] } } });
  await h.request({ method: 'POST', url: '/v1/notifications', payload: item('dg-cy', 2, 'comments') });
  await h.request({ method: 'POST', url: '/v1/notifications', payload: item('dg-cy', 3) });
  assert.equal((await openDigest('dg-cy', 'likes')).items, 2);
  assert.equal((await openDigest('dg-cy', 'comments')).items, 1);
  assert.equal((await openDigest('dg-di', 'likes')).items, 1);
});

test('a digest window of zero, a bad window, a digest to a topic or later, answer 4xx naming the field; nothing is stored', async () => {
  const before = (await h.db.pool.query(`SELECT (SELECT count(*) FROM notifications)::int n, (SELECT count(*) FROM digests)::int d`)).rows[0];
  const cases: Array<[object, number, string]> = [
    [{ digest: { key: 'k', window: '0h' } }, 400, 'body.digest.window'],
    [{ digest: { key: 'k', window: '0s' } }, 400, 'body.digest.window'],
    [{ digest: { key: 'k', window: '-1h' } }, 400, 'body.digest.window'],
    [{ digest: { key: 'k', window: '1 hour' } }, 400, 'body.digest.window'],
    [{ digest: { key: 'k', window: '999d' } }, 400, 'body.digest.window'],
    [{ digest: { window: '1h' } }, 400, 'body.digest.key'],
    [{ digest: { key: 'k' } }, 400, 'body.digest.window'],
    [{ digest: { key: 'k', window: '1h', every: 2 } }, 400, 'body.digest.every'],
    [{ digest: { key: 'k', window: '1h' }, to: { topic: 'news' } }, 422, 'body.digest'],
    [{ digest: { key: 'k', window: '1h' }, sendAt: new Date(Date.now() + 3600_000).toISOString() }, 422, 'body.sendAt'],
    [{ digest: { key: 'k', window: '1h', template: { key: 'no-such-template' } } }, 422, 'body.digest.template.key'],
  ];
  for (const [extra, status, field] of cases) {
    const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'dg-ed' }, title: 't', channels: ['inbox'], ...extra } });
    assert.equal(res.statusCode, status, `${JSON.stringify(extra)}: ${res.body}`);
    assert.ok(JSON.stringify(res.json().error.details).includes(field), `${JSON.stringify(extra)} names ${field}: ${res.body}`);
  }
  const batch = (await h.request({ method: 'POST', url: '/v1/notifications/batch', payload: { items: [{ to: { userId: 'dg-ed' }, title: 't', digest: { key: 'k', window: '0m' } }] } })).json();
  assert.equal(batch.items[0].error.details[0].field, 'body.items.0.digest.window');
  const afterwards = (await h.db.pool.query(`SELECT (SELECT count(*) FROM notifications)::int n, (SELECT count(*) FROM digests)::int d`)).rows[0];
  assert.deepEqual(afterwards, before);
});

test('a user who chose a daily digest for a type gets its notifications at their local hour', async () => {
  assert.equal((await h.request({ method: 'PUT', url: '/v1/apps/default/notification-types/social', payload: { name: 'Social' } })).statusCode, 200);
  assert.equal((await h.request({ method: 'PUT', url: '/v1/users/dg-fe', payload: { timezone: 'America/New_York' } })).statusCode, 200);
  const patched = await h.app.inject({ method: 'PATCH', url: '/v1/me/preferences', headers: await asUser('dg-fe'), payload: { types: { social: { digest: 'daily', at: '09:00' } } } });
  assert.equal(patched.statusCode, 200, patched.body);
  assert.deepEqual(patched.json().types.find((t: { key: string }) => t.key === 'social').digest, { cadence: 'daily', at: '09:00' });

  const sent = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userIds: ['dg-fe', 'dg-gil'] }, type: 'social', title: 'Ann followed you', channels: ['inbox'] } });
  assert.equal(sent.statusCode, 202, sent.body);
  const id = sent.json().id;
  const digest = await openDigest('dg-fe', 'type:social');
  assert.equal(digest.items, 1);
  // 09:00 on New York's wall clock, within the next day.
  const { rows } = await h.db.pool.query(`SELECT to_char($1::timestamptz AT TIME ZONE 'America/New_York', 'HH24:MI:SS') AS local`, [digest.closes_at]);
  assert.equal(rows[0].local, '09:00:00');
  const ahead = digest.closes_at.getTime() - Date.now();
  assert.ok(ahead > 0 && ahead <= 25 * 3600_000, `closes in ${ahead} ms`);
  // The other recipient chose nothing: theirs goes out at once.
  const held = await eventually(async () => {
    const r = await h.db.pool.query(`SELECT user_id, status, deferred_by FROM deliveries WHERE notification_id = $1 ORDER BY user_id`, [id]);
    return r.rows[1]?.status === 'sent' ? r.rows : undefined;
  });
  assert.equal((await inboxOf('dg-gil')).length, 1);
  assert.deepEqual(held, [{ user_id: 'dg-fe', status: 'pending', deferred_by: 'digest' }, { user_id: 'dg-gil', status: 'sent', deferred_by: null }]);

  // A scheduled one is not collected now (that would deliver it before its time): it goes at its time.
  const later = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'dg-fe' }, type: 'social', title: 'Tomorrow', channels: ['inbox'], sendAt: new Date(Date.now() + 7200_000).toISOString() } });
  const { rows: scheduled } = await h.db.pool.query(`SELECT status, deferred_by FROM deliveries WHERE notification_id = $1`, [later.json().id]);
  assert.deepEqual(scheduled, [{ status: 'pending', deferred_by: null }]);
  assert.equal((await openDigest('dg-fe', 'type:social')).items, 1);

  // Hourly, then none again.
  const hourly = await h.app.inject({ method: 'PATCH', url: '/v1/me/preferences', headers: await asUser('dg-fe'), payload: { types: { social: { digest: 'hourly' } } } });
  assert.deepEqual(hourly.json().types.find((t: { key: string }) => t.key === 'social').digest, { cadence: 'hourly' });
  const none = await h.app.inject({ method: 'PATCH', url: '/v1/me/preferences', headers: await asUser('dg-fe'), payload: { types: { social: { digest: null } } } });
  assert.equal(none.json().types.find((t: { key: string }) => t.key === 'social').digest, null);
  const bad = await h.app.inject({ method: 'PATCH', url: '/v1/me/preferences', headers: await asUser('dg-fe'), payload: { types: { social: { digest: 'weekly' } } } });
  assert.equal(bad.statusCode, 400);
  const lonely = await h.app.inject({ method: 'PATCH', url: '/v1/me/preferences', headers: await asUser('dg-fe'), payload: { types: { social: { at: '08:00' } } } });
  assert.equal(lonely.statusCode, 422);
  assert.equal(lonely.json().error.details[0].field, 'body.types.social.at');
});

test('what comes due later is collected when it is due: a scheduled notification and a broadcast join the digest the user chose', async () => {
  assert.equal((await h.request({ method: 'PUT', url: '/v1/apps/default/notification-types/news', payload: { name: 'News' } })).statusCode, 200);
  for (const u of ['dg-hy', 'dg-iz']) assert.equal((await h.request({ method: 'PUT', url: `/v1/users/${u}`, payload: {} })).statusCode, 200);
  const chose = await h.app.inject({ method: 'PATCH', url: '/v1/me/preferences', headers: await asUser('dg-hy'), payload: { types: { news: { digest: 'hourly' } } } });
  assert.equal(chose.statusCode, 200, chose.body);
  const deliveries = async (id: string) =>
    (await h.db.pool.query(`SELECT user_id, channel, status, deferred_by, attempts FROM deliveries WHERE notification_id = $1 ORDER BY user_id, channel`, [id])).rows;

  // Scheduled: not collected when created (it is not due), collected by the worker when it is.
  const scheduled = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'dg-hy' }, type: 'news', title: 'Morning news', channels: ['inbox', 'webhook'], sendAt: new Date(Date.now() + 1_500).toISOString() } });
  assert.equal(scheduled.statusCode, 202, scheduled.body);
  assert.equal(await openDigest('dg-hy', 'type:news'), undefined, 'nothing collected before it is due');
  const held = await eventually(async () => {
    const rows = await deliveries(scheduled.json().id);
    return rows.every((r) => r.deferred_by === 'digest') ? rows : undefined;
  }, 15_000, 'the scheduled notification to be held for the digest');
  assert.deepEqual(held, [
    { user_id: 'dg-hy', channel: 'inbox', status: 'pending', deferred_by: 'digest', attempts: 0 },
    { user_id: 'dg-hy', channel: 'webhook', status: 'pending', deferred_by: 'digest', attempts: 0 },
  ], 'both channels held, the claim’s attempt given back');
  const digest = await openDigest('dg-hy', 'type:news');
  assert.equal(digest.items, 1, 'one item for the notification, whatever its channels');
  const { rows: local } = await h.db.pool.query(`SELECT extract(minute FROM $1::timestamptz AT TIME ZONE 'UTC')::int AS m`, [digest.closes_at]);
  assert.equal(local[0].m, 0, 'an hourly digest closes at a full hour');

  // A broadcast to a topic: the chooser's delivery joins the same digest; the other goes at once.
  assert.equal((await h.request({ method: 'PUT', url: '/v1/topics/dg-news', payload: { name: 'News' } })).statusCode, 200);
  assert.equal((await h.request({ method: 'POST', url: '/v1/topics/dg-news/subscribers', payload: { userIds: ['dg-hy', 'dg-iz'] } })).statusCode, 200);
  const broadcast = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { topic: 'dg-news' }, type: 'news', title: 'Evening news', channels: ['inbox'] } });
  assert.equal(broadcast.statusCode, 202, broadcast.body);
  const fanOut = new BroadcastFanOut(h.db.pool, h.ctx.log, { chunkSize: 1000 });
  while ((await fanOut.step()).kind === 'chunk');
  const split = await eventually(async () => {
    const rows = await deliveries(broadcast.json().id);
    return rows.length === 2 && rows[0].deferred_by === 'digest' && rows[1].status === 'sent' ? rows : undefined;
  }, 15_000, 'the broadcast to be held for one recipient and sent to the other');
  assert.equal(split[0].status, 'pending');
  assert.equal((await inboxOf('dg-iz')).length, 1);
  assert.equal((await inboxOf('dg-hy')).length, 0, 'nothing reached the chooser yet');
  assert.equal((await openDigest('dg-hy', 'type:news')).id, digest.id, 'the same open digest');

  // A critical one goes through, as through quiet hours and caps.
  const critical = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'dg-hy' }, type: 'news', priority: 'critical', title: 'Breaking', channels: ['inbox'], sendAt: new Date(Date.now() + 500).toISOString() } });
  await eventually(async () => (await deliveries(critical.json().id))[0]?.status === 'sent', 15_000, 'the critical notification to be sent');

  // The digest closes: one notification listing both, their held deliveries digested.
  await closeNow('dg-hy', 'type:news');
  const inbox = await eventually(async () => {
    const items = (await inboxOf('dg-hy')).filter((i) => i.data?.digest);
    return items.length === 1 ? items : undefined;
  }, 15_000, 'the digest to be delivered');
  assert.equal(inbox[0]!.data.digest.count, 2);
  assert.deepEqual(inbox[0]!.data.digest.items.map((i: { title: string }) => i.title), ['Morning news', 'Evening news']);
  for (const id of [scheduled.json().id, broadcast.json().id]) {
    const rows = (await deliveries(id)).filter((r) => r.user_id === 'dg-hy');
    assert.ok(rows.every((r) => r.status === 'digested'), JSON.stringify(rows));
  }
});

test('a daily digest closes at the local hour in each zone, across DST changes', async () => {
  const close = async (choice: object, zone: string, at: string) =>
    (await h.db.pool.query<{ t: Date }>(`SELECT herald_digest_closes_at($1::jsonb, $2, $3::timestamptz) AS t`, [JSON.stringify(choice), zone, at])).rows[0]!.t.toISOString();
  const daily = { cadence: 'daily', at: '09:00' };
  // Berlin: 09:00 is 08:00Z in winter; the night of 27–28 March 2027 the clocks go forward, so the
  // next 09:00 is 07:00Z, 23 hours after the one before.
  assert.equal(await close(daily, 'Europe/Berlin', '2027-03-26T10:00:00Z'), '2027-03-27T08:00:00.000Z');
  assert.equal(await close(daily, 'Europe/Berlin', '2027-03-27T10:00:00Z'), '2027-03-28T07:00:00.000Z');
  // New York: clocks go back on 7 November 2027; 09:00 EDT is 13:00Z, 09:00 EST 14:00Z.
  assert.equal(await close(daily, 'America/New_York', '2027-11-06T12:00:00Z'), '2027-11-06T13:00:00.000Z');
  assert.equal(await close(daily, 'America/New_York', '2027-11-06T15:00:00Z'), '2027-11-07T14:00:00.000Z');
  // Tokyo (no DST), at 18:30; hourly in Kolkata (UTC+05:30) closes at the next full local hour.
  assert.equal(await close({ cadence: 'daily', at: '18:30' }, 'Asia/Tokyo', '2027-01-04T01:00:00Z'), '2027-01-04T09:30:00.000Z');
  assert.equal(await close({ cadence: 'hourly' }, 'Asia/Kolkata', '2027-01-04T10:10:00Z'), '2027-01-04T10:30:00.000Z');
});

test('kill -9 while digests close: after a restart each digest is delivered once, with every item', async () => {
  // 300 users with 5 items each, and one with 50; every window ends at once.
  const users = Array.from({ length: 300 }, (_, i) => `dgk-${String(i).padStart(3, '0')}`);
  const inputs: NotificationInput[] = [];
  for (let i = 0; i < 50; i++) inputs.push(item('dgk-fifty', i, 'crash') as NotificationInput);
  for (let i = 0; i < 5; i++) for (const u of users) inputs.push(item(u, i, 'crash') as NotificationInput);
  for (let i = 0; i < inputs.length; i += 1000) {
    const results = await h.services.notifications.createBatch(inputs.slice(i, i + 1000), { source: 'test' });
    assert.ok(results.every((r) => 'id' in r), JSON.stringify(results.find((r) => !('id' in r))));
  }
  // This process's closer must not take part: only the real herald process closes them.
  await closer.stop();
  await h.db.pool.query(`UPDATE digests SET closes_at = now() WHERE key = 'crash' AND status = 'open'`);
  const env = { HERALD_DATABASE_URL: h.db.url, HERALD_SECRET_KEY: randomBytes(32).toString('hex'), HERALD_DATABASE_POOL_SIZE: '4' };
  const closedCount = async () => (await h.db.pool.query(`SELECT count(*)::int AS n FROM digests WHERE key = 'crash' AND status = 'closed'`)).rows[0].n as number;

  const first = spawnHerald(['scheduler'], env);
  children.push(first);
  await eventually(async () => (await closedCount()) >= 30, 120_000, 'digests closing');
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const atKill = await closedCount();
  assert.ok(atKill < 301, `the kill came after the last digest closed (${atKill}); nothing was tested`);

  children.push(spawnHerald(['scheduler'], env));
  await eventually(async () => (await closedCount()) === 301, 120_000, 'every digest closed after the restart');

  const { rows: digests } = await h.db.pool.query(`SELECT user_id, items, notification_id FROM digests WHERE key = 'crash'`);
  assert.equal(digests.length, 301, 'one digest per user');
  for (const d of digests) assert.equal(d.items, d.user_id === 'dgk-fifty' ? 50 : 5, d.user_id);
  // One digest notification per user, listing exactly that user's items, each once.
  const { rows: made } = await h.db.pool.query(
    `SELECT n.user_ids[1] AS user_id, (n.payload -> 'data' -> 'digest' ->> 'count')::int AS count, count(*) OVER (PARTITION BY n.user_ids[1])::int AS per_user
       FROM notifications n WHERE n.source = 'digest' AND n.id IN (SELECT notification_id FROM digests WHERE key = 'crash')`,
  );
  assert.equal(made.length, 301);
  assert.ok(made.every((m) => m.per_user === 1));
  assert.equal(made.find((m) => m.user_id === 'dgk-fifty').count, 50);
  const { rows: all } = await h.db.pool.query(`SELECT count(*)::int AS n FROM notifications WHERE source = 'digest' AND user_ids[1] LIKE 'dgk-%'`);
  assert.equal(all[0].n, 301, 'no digest notification was made twice');
  const { rows: items } = await h.db.pool.query(
    `SELECT count(*)::int AS items, count(*) FILTER (WHERE status = 'digested')::int AS digested FROM deliveries d
      WHERE d.notification_id IN (SELECT i.notification_id FROM digest_items i JOIN digests g ON g.id = i.digest_id WHERE g.key = 'crash')`,
  );
  assert.deepEqual(items[0], { items: 1550, digested: 1550 });
  const { rows: events } = await h.db.pool.query(`SELECT count(*)::int AS n, sum(jsonb_array_length(data -> 'itemIds'))::int AS listed FROM events WHERE type = 'digest:closed' AND data ->> 'key' = 'crash'`);
  assert.deepEqual(events[0], { n: 301, listed: 1550 });
});

test('two deliveries of one notification held by separate slices list it once', async () => {
  // Its own herald without an engine: both deliveries are claimed by hand, then decided one after
  // the other, so the digest step sees them in two slices (as a slice split by timing would).
  const own = await createHarness();
  try {
    assert.equal((await own.request({ method: 'PUT', url: '/v1/apps/default/notification-types/news', payload: { name: 'News' } })).statusCode, 200);
    assert.equal((await own.request({ method: 'PUT', url: '/v1/users/dg-split', payload: {} })).statusCode, 200);
    const chose = await own.app.inject({ method: 'PATCH', url: '/v1/me/preferences', headers: await asUser('dg-split'), payload: { types: { news: { digest: 'hourly' } } } });
    assert.equal(chose.statusCode, 200, chose.body);
    const created = await own.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'dg-split' }, type: 'news', title: 'Split', channels: ['inbox', 'webhook'], sendAt: new Date(Date.now() + 3_600_000).toISOString() } });
    assert.equal(created.statusCode, 202, created.body);
    await own.db.pool.query(`UPDATE deliveries SET run_at = now(), due_at = now() WHERE notification_id = $1`, [created.json().id]);
    const step = new DigestStep(own.db.pool);
    const jobs = await claimDue(own.db.pool, 'w-split', 10, 60, undefined);
    assert.equal(jobs.length, 2, 'both deliveries claimed together');
    for (const job of jobs) assert.deepEqual(await step.check(job), { id: job.id, kind: 'settled', as: 'deferred' });
    const { rows } = await own.db.pool.query(`SELECT d.items, (SELECT count(*)::int FROM digest_items i WHERE i.digest_id = d.id) AS listed FROM digests d WHERE d.user_id = 'dg-split' AND d.status = 'open'`);
    assert.deepEqual(rows, [{ items: 1, listed: 1 }], 'one item, counted once');
    const { rows: held } = await own.db.pool.query(`SELECT channel, status, deferred_by FROM deliveries WHERE notification_id = $1 ORDER BY channel`, [created.json().id]);
    assert.deepEqual(held, [{ channel: 'inbox', status: 'pending', deferred_by: 'digest' }, { channel: 'webhook', status: 'pending', deferred_by: 'digest' }]);
  } finally {
    await own.close();
  }
});
