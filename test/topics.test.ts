import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { asUser } from './helpers/user-token.ts';

/** Topics: CRUD, bulk subscribe/unsubscribe (idempotent, concurrent-safe), cursor paging, and /v1/me/topics. */

let h: TestHarness;
before(async () => {
  h = await createHarness();
  // The apps the topics below belong to (a topic of an app that does not exist is 422 UNKNOWN_APP).
  for (const appId of ['other', 'listing', 'elsewhere']) assert.equal((await h.request({ method: 'PUT', url: `/v1/apps/${appId}`, payload: { name: appId } })).statusCode < 300, true);
});
after(async () => {
  await h.close();
});

async function users(ids: readonly string[]): Promise<void> {
  await h.db.pool.query(`INSERT INTO users (id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, [ids]);
}
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);

function errorOf(res: { statusCode: number; body: string }, status: number, code: string): { details?: unknown } {
  assert.equal(res.statusCode, status, res.body);
  const error = (JSON.parse(res.body) as { error: { code: string; details?: unknown } }).error;
  assert.equal(error.code, code, res.body);
  return error;
}

test('a topic is created, read, listed, replaced and deleted, with its events', async () => {
  const created = await h.request({ method: 'PUT', url: '/v1/topics/match-1', payload: { name: 'Match 1', selfSubscribe: true } });
  assert.equal(created.statusCode, 200, created.body);
  const t = created.json();
  assert.equal(t.key, 'match-1');
  assert.equal(t.appId, 'default');
  assert.equal(t.selfSubscribe, true);
  assert.equal(t.subscribers, 0);
  assert.ok(t.createdAt);

  const replaced = await h.request({ method: 'PUT', url: '/v1/topics/match-1', payload: { name: 'Match one', description: 'Final' } });
  assert.equal(replaced.json().name, 'Match one');
  assert.equal(replaced.json().selfSubscribe, false);
  assert.equal((await h.request({ method: 'GET', url: '/v1/topics/match-1' })).json().description, 'Final');

  await h.request({ method: 'PUT', url: '/v1/topics/match-1', payload: { appId: 'other', name: 'same key, other app' } });
  assert.equal((await h.request({ method: 'GET', url: '/v1/topics/match-1?appId=other' })).json().name, 'same key, other app');

  assert.equal((await h.request({ method: 'DELETE', url: '/v1/topics/match-1?appId=other' })).statusCode, 204);
  errorOf(await h.request({ method: 'GET', url: '/v1/topics/match-1?appId=other' }), 404, 'NOT_FOUND');
  errorOf(await h.request({ method: 'DELETE', url: '/v1/topics/match-1?appId=other' }), 404, 'NOT_FOUND');
  assert.equal((await h.request({ method: 'GET', url: '/v1/topics/match-1' })).statusCode, 200);

  const { rows } = await h.db.pool.query(`SELECT type FROM events WHERE item_type = 'topic' AND item_id LIKE '%/match-1' ORDER BY id`);
  assert.deepEqual(rows.map((r) => r.type), ['topic:created', 'topic:updated', 'topic:created', 'topic:deleted']);
});

test('bulk subscribe is idempotent and counts; unsubscribe removes; subscribers page by cursor', async () => {
  await h.request({ method: 'PUT', url: '/v1/topics/news', payload: {} });
  const members = ids('n', 2500);
  await users(members);
  const first = await h.request({ method: 'POST', url: '/v1/topics/news/subscribers', payload: { userIds: members.slice(0, 2000) } });
  assert.deepEqual(first.json(), { added: 2000, already: 0 });
  const second = await h.request({ method: 'POST', url: '/v1/topics/news/subscribers', payload: { userIds: members } });
  assert.deepEqual(second.json(), { added: 500, already: 2000 });
  assert.equal((await h.request({ method: 'GET', url: '/v1/topics/news' })).json().subscribers, 2500);

  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res = await h.request({ method: 'GET', url: `/v1/topics/news/subscribers?limit=1000${cursor ? `&cursor=${cursor}` : ''}` });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { items: Array<{ userId: string; subscribedAt: string }>; nextCursor: string | null };
    seen.push(...body.items.map((i) => i.userId));
    cursor = body.nextCursor;
    pages++;
  } while (cursor);
  assert.equal(pages, 3);
  assert.deepEqual(seen, [...members].sort());

  const removed = await h.request({ method: 'DELETE', url: '/v1/topics/news/subscribers', payload: { userIds: [...members.slice(0, 100), 'never-subscribed'] } });
  assert.deepEqual(removed.json(), { removed: 100 });
  assert.deepEqual((await h.request({ method: 'DELETE', url: '/v1/topics/news/subscribers', payload: { userIds: members.slice(0, 100) } })).json(), { removed: 0 });
  assert.equal((await h.request({ method: 'GET', url: '/v1/topics/news' })).json().subscribers, 2400);

  const { rows } = await h.db.pool.query(`SELECT type, count(*)::int AS n FROM events WHERE item_id = 'default/news' AND type LIKE 'subscription:%' GROUP BY type ORDER BY type`);
  assert.deepEqual(rows, [{ type: 'subscription:created', n: 2500 }, { type: 'subscription:deleted', n: 100 }]);
});

test('two concurrent subscribe calls for the same users create no duplicates', async () => {
  await h.request({ method: 'PUT', url: '/v1/topics/race', payload: {} });
  const members = ids('r', 5000);
  await users(members);
  const reversed = [...members].reverse();
  const [a, b] = await Promise.all([
    h.request({ method: 'POST', url: '/v1/topics/race/subscribers', payload: { userIds: members } }),
    h.request({ method: 'POST', url: '/v1/topics/race/subscribers', payload: { userIds: reversed } }),
  ]);
  assert.equal(a.statusCode, 200, a.body);
  assert.equal(b.statusCode, 200, b.body);
  assert.equal(a.json().added + b.json().added, 5000);
  assert.equal(a.json().already + b.json().already, 5000);
  const { rows } = await h.db.pool.query(`SELECT count(*)::int AS n, count(DISTINCT user_id)::int AS d FROM topic_subscriptions WHERE topic_key = 'race'`);
  assert.deepEqual(rows[0], { n: 5000, d: 5000 });
  assert.equal((await h.request({ method: 'GET', url: '/v1/topics/race' })).json().subscribers, 5000);
  const { rows: ev } = await h.db.pool.query(`SELECT count(*)::int AS n FROM events WHERE item_id = 'default/race' AND type = 'subscription:created'`);
  assert.equal(ev[0].n, 5000);
});

test('unknown users are refused as a whole and listed; nobody is subscribed', async () => {
  await h.request({ method: 'PUT', url: '/v1/topics/strict', payload: {} });
  await users(['s-known']);
  const res = await h.request({ method: 'POST', url: '/v1/topics/strict/subscribers', payload: { userIds: ['s-known', 's-ghost-2', 's-ghost-1'] } });
  const error = errorOf(res, 422, 'UNKNOWN_USERS');
  assert.deepEqual((error.details as { userIds: string[] }).userIds, ['s-ghost-1', 's-ghost-2']);
  assert.equal((await h.request({ method: 'GET', url: '/v1/topics/strict' })).json().subscribers, 0);
  errorOf(await h.request({ method: 'POST', url: '/v1/topics/nope/subscribers', payload: { userIds: ['s-known'] } }), 404, 'NOT_FOUND');
  errorOf(await h.request({ method: 'POST', url: '/v1/topics/strict/subscribers', payload: { userIds: ['s-known'], appId: 'other' } }), 404, 'NOT_FOUND');
});

test('topics list by cursor; a user’s topics list with subscribedAt', async () => {
  for (const k of ['l-a', 'l-b', 'l-c', 'l-d', 'l-e']) await h.request({ method: 'PUT', url: `/v1/topics/${k}`, payload: { appId: 'listing' } });
  await users(['lister']);
  for (const k of ['l-b', 'l-d']) await h.request({ method: 'POST', url: `/v1/topics/${k}/subscribers`, payload: { userIds: ['lister'], appId: 'listing' } });
  const p1 = (await h.request({ method: 'GET', url: '/v1/topics?appId=listing&limit=2' })).json();
  assert.deepEqual(p1.items.map((t: { key: string }) => t.key), ['l-a', 'l-b']);
  const p2 = (await h.request({ method: 'GET', url: `/v1/topics?appId=listing&limit=2&cursor=${p1.nextCursor}` })).json();
  assert.deepEqual(p2.items.map((t: { key: string }) => t.key), ['l-c', 'l-d']);
  const p3 = (await h.request({ method: 'GET', url: `/v1/topics?appId=listing&limit=2&cursor=${p2.nextCursor}` })).json();
  assert.deepEqual(p3.items.map((t: { key: string }) => t.key), ['l-e']);
  assert.equal(p3.nextCursor, null);
  const mine = (await h.request({ method: 'GET', url: '/v1/users/lister/topics' })).json();
  assert.deepEqual(mine.items.map((t: { key: string; subscribedAt: string }) => [t.key, typeof t.subscribedAt]), [['l-b', 'string'], ['l-d', 'string']]);
});

test('end users join and leave self-subscribe topics through /v1/me/topics only', async () => {
  await h.request({ method: 'PUT', url: '/v1/topics/open', payload: { selfSubscribe: true } });
  await h.request({ method: 'PUT', url: '/v1/topics/closed', payload: {} });
  await h.request({ method: 'PUT', url: '/v1/topics/open', payload: { selfSubscribe: true, appId: 'elsewhere' } });
  const me = await asUser('self-1');
  const join = await h.app.inject({ method: 'PUT', url: '/v1/me/topics/open', headers: me });
  assert.deepEqual(join.json(), { added: 1, already: 0 });
  assert.deepEqual((await h.app.inject({ method: 'PUT', url: '/v1/me/topics/open', headers: me })).json(), { added: 0, already: 1 });
  errorOf(await h.app.inject({ method: 'PUT', url: '/v1/me/topics/closed', headers: me }), 404, 'NOT_FOUND');
  errorOf(await h.app.inject({ method: 'PUT', url: '/v1/me/topics/missing', headers: me }), 404, 'NOT_FOUND');
  const list = (await h.app.inject({ method: 'GET', url: '/v1/me/topics', headers: me })).json();
  assert.deepEqual(list.items.map((t: { key: string; appId: string }) => `${t.appId}/${t.key}`), ['default/open']);
  // Another user's subscriptions are not reachable through /v1/me.
  errorOf(await h.app.inject({ method: 'GET', url: '/v1/users/self-1/topics', headers: me }), 403, 'PERMISSION_DENIED');
  errorOf(await h.app.inject({ method: 'POST', url: '/v1/topics/open/subscribers', headers: me, payload: { userIds: ['someone-else'] } }), 403, 'PERMISSION_DENIED');
  assert.deepEqual((await h.app.inject({ method: 'DELETE', url: '/v1/me/topics/open', headers: me })).json(), { removed: 1 });
  assert.equal((await h.request({ method: 'GET', url: '/v1/topics/open' })).json().subscribers, 0);
});

test('bad input answers a stable 4xx and changes nothing', async () => {
  await h.request({ method: 'PUT', url: '/v1/topics/bad', payload: {} });
  const before = (await h.db.pool.query(`SELECT (SELECT count(*) FROM topics) t, (SELECT count(*) FROM topic_subscriptions) s, (SELECT count(*) FROM events) e`)).rows[0];
  const cases: Array<[Parameters<TestHarness['request']>[0], number, string]> = [
    [{ method: 'PUT', url: '/v1/topics/has%20space', payload: {} }, 400, 'VALIDATION_FAILED'],
    [{ method: 'PUT', url: '/v1/topics/bad', payload: { nope: 1 } }, 400, 'VALIDATION_FAILED'],
    [{ method: 'PUT', url: '/v1/topics/bad', payload: { appId: 'not an app' } }, 400, 'VALIDATION_FAILED'],
    [{ method: 'PUT', url: '/v1/topics/bad', payload: { appId: 'no-such-app' } }, 422, 'UNKNOWN_APP'],
    [{ method: 'PUT', url: '/v1/topics/bad?appId=no-such-app', payload: {} }, 422, 'UNKNOWN_APP'],
    [{ method: 'PUT', url: '/v1/apps/no-such-app/notification-types/bad', payload: {} }, 404, 'NOT_FOUND'],
    [{ method: 'GET', url: '/v1/topics?limit=100000' }, 400, 'VALIDATION_FAILED'],
    [{ method: 'GET', url: '/v1/topics?cursor=garbage' }, 400, 'VALIDATION_FAILED'],
    [{ method: 'GET', url: '/v1/topics/bad/subscribers?cursor=W10' }, 400, 'VALIDATION_FAILED'],
    [{ method: 'POST', url: '/v1/topics/bad/subscribers', payload: { userIds: [] } }, 400, 'VALIDATION_FAILED'],
    [{ method: 'POST', url: '/v1/topics/bad/subscribers', payload: { userIds: ids('x', 10_001) } }, 400, 'VALIDATION_FAILED'],
    [{ method: 'POST', url: '/v1/topics/bad/subscribers', payload: { userIds: ['a/b'] } }, 400, 'VALIDATION_FAILED'],
    [{ method: 'POST', url: '/v1/topics/bad/subscribers', payload: 'text', headers: { 'content-type': 'text/plain' } }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ];
  for (const [req, status, code] of cases) errorOf(await h.request(req), status, code);
  // A cursor that decodes to text with a NUL (which PostgreSQL's text cannot hold) names the field like any other bad cursor.
  const nul = Buffer.from(JSON.stringify(['a\u0000b'])).toString('base64url');
  const res = await h.request({ method: 'GET', url: `/v1/topics?cursor=${nul}` });
  errorOf(res, 400, 'VALIDATION_FAILED');
  assert.equal(res.json().error.details[0].field, 'querystring.cursor');
  const after = (await h.db.pool.query(`SELECT (SELECT count(*) FROM topics) t, (SELECT count(*) FROM topic_subscriptions) s, (SELECT count(*) FROM events) e`)).rows[0];
  assert.deepEqual(after, before);
});
