import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { startEngine, webhookSink, eventually, type RunningEngine } from './helpers/engine.ts';
import { asUser } from './helpers/user-token.ts';
import webpush from 'web-push';

/**
 * The console's JSON routes on a real database with the engine running: statistics from the
 * per-minute rollup (folded or not, the same numbers), dead-letter search and re-drive, user
 * search, the app list; every one refused without an admin key, every bad input a stable 4xx.
 */
let h: TestHarness;
let engine: RunningEngine;
let sink: Awaited<ReturnType<typeof webhookSink>>;
/** Notification ids the webhook receiver refuses with 400 (a permanent failure). */
const refuse = new Set<string>();
const vapid = webpush.generateVAPIDKeys();

before(async () => {
  sink = await webhookSink((r) => (refuse.has(String(r.json.notificationId)) ? 400 : 200));
  h = await createHarness({ HERALD_WEBHOOK_URL: sink.url, HERALD_WEBHOOK_SECRET: 'whsec-console', HERALD_VAPID_PUBLIC_KEY: vapid.publicKey, HERALD_VAPID_PRIVATE_KEY: vapid.privateKey, HERALD_VAPID_SUBJECT: 'mailto:ops@example.com' });
  engine = await startEngine(h);
});
after(async () => {
  await engine.stop();
  await h.close();
  await sink.close();
});

type Json = Record<string, any>;
async function get(url: string): Promise<Json> {
  const res = await h.request({ url });
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}

async function webhook(userId: string, fail: boolean): Promise<string> {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId }, title: 'Hi', channels: ['webhook'] } });
  assert.equal(res.statusCode, 202, res.body);
  const id = res.json().id as string;
  if (fail) refuse.add(id);
  return id;
}

async function settled(id: string): Promise<Json> {
  return eventually(async () => {
    const n = await get(`/v1/notifications/${id}`);
    return n.deliveries.every((d: Json) => d.status === 'sent' || d.status === 'failed') ? n : undefined;
  }, 15_000, `notification ${id} to settle`);
}

const count = (stats: Json, channel: string, outcome: string) =>
  stats.perMinute.filter((c: Json) => c.channel === channel && c.outcome === outcome).reduce((a: number, c: Json) => a + c.count, 0);

let failedIds: string[] = [];

test('statistics count sent and failed deliveries, the same before and after folding into the rollup', async () => {
  await h.request({ method: 'PUT', url: '/v1/users/stats-user', payload: { email: 'stats@example.com' } });
  // A race: the refusal must be known before the worker sends. Register, then post.
  const ids = [await webhook('stats-user', false), await webhook('stats-user', false)];
  for (const id of ids) await settled(id);
  const failing = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'stats-user' }, title: 'Hi', channels: ['webhook'], sendAt: new Date(Date.now() + 1_500).toISOString() } });
  refuse.add(failing.json().id);
  const failed = await settled(failing.json().id);
  failedIds = failed.deliveries.map((d: Json) => d.id);

  const live = await get('/v1/stats/deliveries?minutes=15');
  assert.equal(live.minutes, 15);
  assert.equal(count(live, 'webhook', 'sent'), 2);
  assert.equal(count(live, 'webhook', 'failed'), 1);
  assert.deepEqual(live.byProvider, [{ provider: 'webhook', sent: 2, failed: 1, expired: 0 }]);
  assert.equal(live.lateness.sent, 2);
  assert.ok(live.lateness.p50Ms > 0 && live.lateness.p99Ms >= live.lateness.p50Ms, JSON.stringify(live.lateness));
  assert.equal(live.backlog.due, 0);

  // Folding moves outcome events older than a few seconds into the rollup.
  await new Promise((r) => setTimeout(r, 5_500));
  while ((await h.services.console.fold()) === 'more');
  const { rows } = await h.db.pool.query<{ n: string }>(`SELECT coalesce(sum(count), 0)::text AS n FROM delivery_minutes WHERE channel = 'webhook'`);
  assert.equal(Number(rows[0]!.n), 3, 'the rollup holds the three outcomes');
  const folded = await get('/v1/stats/deliveries?minutes=15');
  assert.deepEqual({ ...folded, generatedAt: 0, from: 0 }, { ...live, generatedAt: 0, from: 0 });
  assert.equal(await h.services.console.fold(), 'caught-up', 'a second fold adds nothing twice');
  assert.equal(count(await get('/v1/stats/deliveries?minutes=15'), 'webhook', 'sent'), 2);
});

test('two processes folding at once: one folds, the other skips', async () => {
  const client = await h.db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT * FROM delivery_minutes_state FOR UPDATE');
    assert.equal(await h.services.console.fold(), 'busy');
    await client.query('ROLLBACK');
  } finally {
    client.release();
  }
  assert.equal(await h.services.console.fold(), 'caught-up');
});

test('dead letters: filtered, paged newest first, re-driven and then sent', async () => {
  await h.request({ method: 'PUT', url: '/v1/users/dl-user', payload: {} });
  const more: string[] = [];
  for (let i = 0; i < 2; i++) {
    const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'dl-user' }, title: `n${i}`, channels: ['webhook'], sendAt: new Date(Date.now() + 1_000).toISOString() } });
    refuse.add(res.json().id);
    more.push(res.json().id);
  }
  for (const id of more) await settled(id);

  const all = await get('/v1/dead-letters?channel=webhook');
  assert.equal(all.items.length, 3);
  assert.equal(all.items[0].notificationId, more[1], 'newest first');
  assert.equal(all.items[0].lastError, 'webhook answered 400');
  assert.equal(all.items[0].provider, 'webhook');
  assert.equal(all.items[0].step, 0, 'a notification without steps: step 0');
  assert.equal(all.nextCursor, undefined);

  const first = await get('/v1/dead-letters?limit=2');
  assert.equal(first.items.length, 2);
  const second = await get(`/v1/dead-letters?limit=2&cursor=${first.nextCursor}`);
  assert.equal(second.items.length, 1);
  assert.equal(second.nextCursor, undefined);
  assert.deepEqual([...first.items, ...second.items].map((d: Json) => d.id), all.items.map((d: Json) => d.id));

  assert.equal((await get('/v1/dead-letters?error=ANSWERED%20400')).items.length, 3, 'error text, case-insensitive');
  assert.equal((await get('/v1/dead-letters?error=%25')).items.length, 0, 'a % is a literal character');
  assert.equal((await get('/v1/dead-letters?channel=email')).items.length, 0);
  assert.equal((await get('/v1/dead-letters?appId=other')).items.length, 0);

  // Re-drive two of them: the receiver takes them now.
  const chosen = all.items.slice(0, 2);
  for (const d of chosen) refuse.delete(d.notificationId);
  const res = await h.request({ method: 'POST', url: '/v1/dead-letters/redrive', payload: { ids: [...chosen.map((d: Json) => d.id), chosen[0].id] } });
  assert.equal(res.statusCode, 202, res.body);
  assert.equal(res.json().redriven, 2);
  for (const d of chosen) {
    const n = await settled(d.notificationId);
    assert.equal(n.deliveries[0].status, 'sent');
  }
  const again = await h.request({ method: 'POST', url: '/v1/dead-letters/redrive', payload: { ids: chosen.map((d: Json) => d.id) } });
  assert.deepEqual(again.json(), { redriven: 0, ids: [] }, 'no longer failed: nothing to do');
  assert.deepEqual((await get('/v1/dead-letters')).items.map((d: Json) => d.id), [all.items[2].id]);
  const events = await get('/v1/users/dl-user/events?limit=100');
  assert.ok(events.items.some((e: Json) => e.type === 'notification:retried' && e.itemId === chosen[0].notificationId));
});

test('a rare dead-letter filter gives short pages, each looking at a bounded number of rows', async () => {
  // 2,100 more failed rows, one (the oldest) with an unusual error; the page window is 2,000 rows.
  await h.db.pool.query(`INSERT INTO notifications (id, channels, payload, send_at) VALUES ('bulk-dl', ARRAY['webhook'], '{}', now())`);
  await h.db.pool.query(
    `INSERT INTO deliveries (notification_id, channel, provider, status, due_at, run_at, updated_at, attempts, last_error)
     SELECT 'bulk-dl', 'webhook', 'webhook', 'failed', now(), now(), now() - interval '1 hour' - g * interval '1 second', 5,
            CASE WHEN g = 2100 THEN 'TLS handshake refused' ELSE 'webhook answered 410' END
       FROM generate_series(1, 2100) g`,
  );
  const first = await get('/v1/dead-letters?error=handshake');
  assert.deepEqual(first.items, [], 'not among the newest 2,000');
  assert.ok(first.nextCursor, 'but the walk goes on');
  const second = await get(`/v1/dead-letters?error=handshake&cursor=${first.nextCursor}`);
  assert.deepEqual(second.items.map((d: Json) => d.lastError), ['TLS handshake refused']);
  assert.equal(second.nextCursor, undefined);
  let seen = 0;
  let cursor: string | undefined;
  do {
    const page = await get(`/v1/dead-letters?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    seen += page.items.length;
    cursor = page.nextCursor;
  } while (cursor);
  assert.equal(seen, 2101, 'every dead letter once, in pages');
  await h.db.pool.query(`DELETE FROM notifications WHERE id = 'bulk-dl'`);
});

test('user search by id prefix and by e-mail prefix, in keyset pages', async () => {
  for (const [id, email] of [['ada', 'Ada@Example.com'], ['adam', 'adam@example.org'], ['ad_x', null], ['bob', 'bob@example.com']] as const) {
    await h.request({ method: 'PUT', url: `/v1/users/${id}`, payload: email ? { email } : {} });
  }
  assert.deepEqual((await get('/v1/users?query=ad')).items.map((u: Json) => u.id), ['ad_x', 'ada', 'adam']);
  assert.deepEqual((await get('/v1/users?query=ad_')).items.map((u: Json) => u.id), ['ad_x'], '_ is literal');
  assert.deepEqual((await get('/v1/users?query=ada@EXAMPLE')).items.map((u: Json) => u.email), ['Ada@Example.com']);
  assert.deepEqual((await get('/v1/users?query=%40example')).items, [], 'the start of an address');
  const p1 = await get('/v1/users?query=ad&limit=2');
  assert.deepEqual(p1.items.map((u: Json) => u.id), ['ad_x', 'ada']);
  const p2 = await get(`/v1/users?query=ad&limit=2&cursor=${p1.nextCursor}`);
  assert.deepEqual(p2.items.map((u: Json) => u.id), ['adam']);
  assert.equal(p2.nextCursor, undefined);
  const e1 = await get('/v1/users?query=a%40&limit=5');
  assert.deepEqual(e1.items, []);
  const all = await get('/v1/users?limit=200');
  assert.ok(all.items.length >= 5 && all.items.some((u: Json) => u.id === 'bob'));
});

test('the app list shows every app with its channels, problems and VAPID public key', async () => {
  const list = await get('/v1/apps');
  const def = list.items.find((a: Json) => a.id === 'default');
  assert.ok(def, 'the default app is listed');
  assert.ok(def.channels.webhook, JSON.stringify(def.channels));
  assert.equal(def.vapidPublicKey, vapid.publicKey);
  assert.deepEqual(Object.keys(def).filter((k) => /secret|private/i.test(k)), []);
});

test('bad input is a stable 4xx, never a 500', async () => {
  const cases: Array<[string, string, unknown, number, string]> = [
    ['GET', '/v1/stats/deliveries?minutes=0', undefined, 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/stats/deliveries?minutes=1441', undefined, 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/stats/deliveries?minutes=soon', undefined, 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/dead-letters?channel=fax', undefined, 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/dead-letters?limit=500', undefined, 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/dead-letters?cursor=not-a-cursor', undefined, 400, 'VALIDATION_FAILED'],
    ['GET', `/v1/dead-letters?cursor=${Buffer.from('["x","1"]').toString('base64url')}`, undefined, 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/dead-letters?appId=bad%20app', undefined, 400, 'VALIDATION_FAILED'],
    ['GET', `/v1/users?cursor=${Buffer.from('[1,2]').toString('base64url')}`, undefined, 400, 'VALIDATION_FAILED'],
    ['GET', '/v1/users?limit=0', undefined, 400, 'VALIDATION_FAILED'],
    ['POST', '/v1/dead-letters/redrive', { ids: [] }, 400, 'VALIDATION_FAILED'],
    ['POST', '/v1/dead-letters/redrive', { ids: ['12abc'] }, 400, 'VALIDATION_FAILED'],
    ['POST', '/v1/dead-letters/redrive', { ids: ['99999999999999999999'] }, 400, 'VALIDATION_FAILED'],
    ['POST', '/v1/dead-letters/redrive', { ids: ['1'], all: true }, 400, 'VALIDATION_FAILED'],
    ['POST', '/v1/dead-letters/redrive', { ids: Array.from({ length: 1001 }, (_, i) => String(i + 1)) }, 400, 'VALIDATION_FAILED'],
  ];
  for (const [method, url, payload, status, code] of cases) {
    const res = await h.request({ method: method as 'GET' | 'POST', url, ...(payload === undefined ? {} : { payload: payload as Json }) });
    assert.equal(res.statusCode, status, `${method} ${url}: ${res.body}`);
    assert.equal(res.json().error.code, code, `${method} ${url}`);
  }
  const text = await h.request({ method: 'POST', url: '/v1/dead-letters/redrive', payload: 'ids=1', headers: { 'content-type': 'text/plain' } });
  assert.equal(text.statusCode, 415, text.body);
  assert.deepEqual((await h.request({ method: 'POST', url: '/v1/dead-letters/redrive', payload: { ids: ['424242'] } })).json(), { redriven: 0, ids: [] }, 'an unknown id is skipped');
  assert.ok(failedIds.length > 0);
});

test('every console route needs an admin API key: none is 401, a user token 403', async () => {
  const user = await asUser('ada');
  for (const [method, url] of [['GET', '/v1/stats/deliveries'], ['GET', '/v1/dead-letters'], ['POST', '/v1/dead-letters/redrive'], ['GET', '/v1/users'], ['GET', '/v1/apps']] as const) {
    const anonymous = await h.app.inject({ method, url, ...(method === 'POST' ? { payload: { ids: ['1'] } } : {}) });
    assert.equal(anonymous.statusCode, 401, `${url} without a key`);
    const wrong = await h.app.inject({ method, url, headers: { authorization: 'Bearer hk_wrong' } });
    assert.equal(wrong.statusCode, 401, `${url} with a wrong key`);
    const asEndUser = await h.app.inject({ method, url, headers: user, ...(method === 'POST' ? { payload: { ids: ['1'] } } : {}) });
    assert.equal(asEndUser.statusCode, 403, `${url} with a user token`);
    assert.equal(asEndUser.json().error.code, 'PERMISSION_DENIED');
  }
});

test('a dead letter of a fallback chain says which step failed', async () => {
  // Step 0 (the inbox) is delivered and not read; step 1, the webhook a second later, is refused for good.
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'dl-chain' }, title: 'Your code', steps: [{ channels: ['inbox'] }, { after: '1s', channels: ['webhook'], unless: 'read' }] } });
  assert.equal(res.statusCode, 202, res.body);
  const id = res.json().id as string;
  refuse.add(id);
  const dead = await eventually(async () => (await get('/v1/dead-letters?channel=webhook&limit=100')).items.find((d: Json) => d.notificationId === id), 15_000, 'the step-1 webhook to fail');
  assert.equal(dead.step, 1);
  assert.equal(dead.lastError, 'webhook answered 400');
});
