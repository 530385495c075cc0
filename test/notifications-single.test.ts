import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { InsertGroups } from '../src/notifications/insert-groups.ts';
import type { NewBatchRow } from '../src/notifications/repository.ts';
import type { Pool } from '../src/db/pool.ts';

/**
 * The single POST's write path: a notification to one user without a type or local time is its
 * own lean statement (repository.ts), and single notifications that arrive while others are
 * being written go together as one statement (insert-groups.ts). Both must store exactly what
 * the batch statement stores.
 */
let h: TestHarness;

before(async () => {
  h = await createHarness({ HERALD_WEBHOOK_URL: 'http://127.0.0.1:9/hook', HERALD_WEBHOOK_SECRET: 'whsec-single' });
});
after(async () => {
  await h.close();
});

const post = (payload: object) => h.request({ method: 'POST', url: '/v1/notifications', payload });

/** What was stored for notification `id`, as comparable values: deliveries relative to its send time, and its events. */
async function stored(id: string): Promise<unknown> {
  const { rows: n } = await h.db.pool.query<{ user_ids: string[]; channels: string[]; payload: unknown; priority: string | null; source: string }>(
    `SELECT user_ids, channels, payload, priority, source FROM notifications WHERE id = $1`, [id]);
  const { rows: d } = await h.db.pool.query(
    `SELECT d.channel, d.provider, d.device_id, d.user_id, d.app_id, d.status, d.deferred_by, d.step,
            extract(epoch FROM d.due_at - n.send_at)::int AS due_after, extract(epoch FROM d.run_at - n.send_at)::int AS run_after,
            extract(epoch FROM d.expires_at - n.send_at)::int AS expires_after
       FROM deliveries d JOIN notifications n ON n.id = d.notification_id WHERE d.notification_id = $1 ORDER BY d.channel, d.device_id`, [id]);
  const { rows: e } = await h.db.pool.query<{ data: Record<string, unknown> }>(
    `SELECT user_id, type, item_type, actor, data FROM events WHERE item_id = $1 ORDER BY id`, [id]);
  const events = e.map((x) => ({ ...x, data: { ...x.data, sendAt: typeof x.data.sendAt } }));
  return { notification: n[0], deliveries: d, events };
}

test('the lean single statement stores what the batch statement stores (devices, preferences, quiet hours, send windows, new users)', async () => {
  const put = async (id: string, body: object) => assert.equal((await h.request({ method: 'PUT', url: `/v1/users/${id}`, payload: body })).statusCode, 200);
  await put('ls-quiet', { timezone: 'Europe/Berlin', quietHours: { start: '22:00', end: '07:00' }, email: 'q@example.com' });
  await put('ls-window', { timezone: 'UTC', sendWindow: { start: '08:00', end: '20:00' }, email: 'w@example.com' });
  await put('ls-off', { email: 'o@example.com' });
  assert.equal((await h.request({ method: 'PATCH', url: '/v1/users/ls-off/preferences', payload: { channels: { webhook: false } } })).statusCode, 200);
  for (const u of ['ls-quiet', 'ls-window', 'ls-off']) {
    for (const platform of ['ios', 'android']) {
      const token = platform === 'ios' ? 'b'.repeat(64) : `tok-${u}`;
      const d = await h.request({ method: 'POST', url: `/v1/users/${u}/devices`, payload: { platform, token: platform === 'ios' ? `${token.slice(0, 60)}${u.length}000`.slice(0, 64) : token } });
      assert.ok(d.statusCode === 200 || d.statusCode === 201, d.body);
    }
  }
  const at = '2099-03-10T23:30:00.000Z'; // 00:30 in Berlin: inside the quiet hours; 23:30 UTC: outside the window
  const cases = [
    { to: { userId: 'ls-quiet' }, title: 't', channels: ['push', 'email', 'webhook', 'inbox'], sendAt: at, ttlSeconds: 3600 },
    { to: { userId: 'ls-window' }, title: 't', channels: ['push', 'email', 'inbox'], sendAt: at, priority: 'high' },
    { to: { userId: 'ls-window' }, title: 't', channels: ['push', 'email'], sendAt: at, priority: 'critical' },
    { to: { userId: 'ls-off' }, title: 't', channels: ['webhook', 'inbox'] },
    { to: { userId: 'ls-off' }, title: 't', channels: ['push'], appId: 'default' },
    { to: { userId: 'ls-brand-new' }, title: 't', channels: ['webhook', 'inbox'], data: { k: 'v' } },
  ];
  for (const body of cases) {
    const single = await post(body);
    assert.equal(single.statusCode, 202, single.body);
    // Two items: the batch statement, not the lean one.
    const pair = await h.request({ method: 'POST', url: '/v1/notifications/batch', payload: { items: [body, { to: { userId: 'ls-other' }, title: 'x', channels: ['inbox'] }] } });
    assert.equal(pair.statusCode, 200, pair.body);
    const fromBatch = pair.json().items[0];
    assert.equal(fromBatch.status, single.json().status);
    assert.deepEqual(await stored(single.json().id), await stored(fromBatch.id), JSON.stringify(body));
  }
  // The cases did reach the rules they are about.
  const quiet = (await stored((await post(cases[0]!)).json().id)) as { deliveries: Array<{ channel: string; deferred_by: string | null }> };
  assert.deepEqual(quiet.deliveries.map((d) => [d.channel, d.deferred_by]), [['email', 'quiet-hours'], ['inbox', null], ['push', 'quiet-hours'], ['push', 'quiet-hours'], ['webhook', null]]);
  const off = (await stored((await post(cases[3]!)).json().id)) as { deliveries: Array<{ channel: string }>; events: Array<{ data: { deliveries: number } }> };
  assert.deepEqual(off.deliveries.map((d) => d.channel), ['inbox']);
  assert.equal(off.events[0]!.data.deliveries, 1);
  assert.equal((await h.db.pool.query(`SELECT 1 FROM users WHERE id = 'ls-brand-new'`)).rowCount, 1);
});

test('concurrent single POSTs are each stored with their deliveries and their own event, and answered after commit', async () => {
  const n = 60;
  const results = await Promise.all(Array.from({ length: n }, (_, i) => post({ to: { userId: `conc-${i % 7}` }, title: `n${i}`, channels: ['webhook', 'inbox'] })));
  for (const r of results) assert.equal(r.statusCode, 202, r.body);
  const ids = results.map((r) => r.json().id as string);
  assert.equal(new Set(ids).size, n);
  const { rows } = await h.db.pool.query<{ id: string; d: number; e: number; ed: number }>(
    `SELECT n.id, (SELECT count(*)::int FROM deliveries d WHERE d.notification_id = n.id) AS d,
            (SELECT count(*)::int FROM events e WHERE e.item_id = n.id AND e.type = 'notification:created' AND e.user_id = n.user_ids[1]) AS e,
            (SELECT (data->>'deliveries')::int FROM events e WHERE e.item_id = n.id) AS ed
       FROM notifications n WHERE n.id = ANY ($1::text[])`, [ids]);
  assert.equal(rows.length, n);
  for (const r of rows) assert.deepEqual([r.d, r.e], [2, 1], r.id);
  // A notification's event counts its own deliveries, whichever statement wrote it.
  for (const r of rows) assert.equal(r.ed, 2, r.id);
});

test('a notification PostgreSQL refuses fails only its own request, not the others written with it', async () => {
  // A lone UTF-16 surrogate passes JSON parsing and validation but not PostgreSQL's jsonb.
  const bodies = Array.from({ length: 20 }, (_, i) => ({ to: { userId: `iso-${i}` }, title: i === 7 ? 'bad \ud800' : `ok ${i}`, channels: ['inbox'] }));
  const results = await Promise.all(bodies.map((b) => post(b)));
  results.forEach((r, i) => {
    if (i === 7) assert.ok(r.statusCode >= 400, r.body);
    else assert.equal(r.statusCode, 202, `${i}: ${r.body}`);
  });
  const { rows } = await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM notifications WHERE user_ids[1] LIKE 'iso-%'`);
  assert.equal(rows[0]!.n, 19);
});

// ---- InsertGroups on its own, against a pool that records what it is asked

function row(i: number): NewBatchRow {
  return { id: `row-${i}`, appId: 'default', targetApp: null, userIds: [`u${i}`], reminderId: null, channels: ['inbox'], payload: {}, sendAt: new Date(), ttlSeconds: null, expiresAt: null, source: 'api', dedupeKey: null, type: null, typeRule: null, priority: null, localTime: null };
}

/** A pool whose statements wait for `release()`; rows whose id is in `refuse` make PostgreSQL-like errors, `drop` a lost connection. */
function fakePool(options: { refuse?: string[]; drop?: boolean } = {}) {
  const statements: string[][] = [];
  let open: Array<() => void> = [];
  const pool = {
    async query(q: { values: unknown[] }) {
      const first = q.values[0];
      const ids = Array.isArray(first) ? (first as string[]) : [first as string];
      statements.push(ids);
      await new Promise<void>((resolve) => open.push(resolve));
      if (options.drop && ids.length > 1) throw new Error('Connection terminated unexpectedly');
      if (ids.some((id) => options.refuse?.includes(id))) throw new pg.DatabaseError('invalid input syntax for type json', 100, 'error');
      return { rows: [{ deliveries: ids.length }] };
    },
  };
  return {
    pool: pool as unknown as Pool,
    statements,
    release() {
      const now = open;
      open = [];
      for (const r of now) r();
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

test('InsertGroups: one at once when quiet; those that arrive while the limit is in flight go together in the next statement', async () => {
  const f = fakePool();
  const groups = new InsertGroups(f.pool, { maxInFlight: 1 });
  const first = groups.add(row(0));
  await tick();
  assert.deepEqual(f.statements, [['row-0']]);
  const rest = [1, 2, 3].map((i) => groups.add(row(i)));
  await tick();
  assert.equal(f.statements.length, 1, 'waits while the one statement is in flight');
  f.release();
  assert.equal(await first, 1);
  await tick();
  assert.deepEqual(f.statements[1], ['row-1', 'row-2', 'row-3']);
  f.release();
  assert.deepEqual(await Promise.all(rest), [3, 3, 3]);
});

test('InsertGroups: a group PostgreSQL refused is written again one by one; a lost connection fails the whole group', async () => {
  const f = fakePool({ refuse: ['row-2'] });
  const groups = new InsertGroups(f.pool, { maxInFlight: 1 });
  const held = groups.add(row(0));
  await tick();
  const group = [1, 2, 3].map((i) => groups.add(row(i)).then((n) => ({ n }), (err: Error) => ({ err: err.message })));
  f.release();
  await held;
  for (let i = 0; i < 3; i++) {
    await tick();
    f.release();
  }
  assert.deepEqual(await Promise.all(group), [{ n: 1 }, { err: 'invalid input syntax for type json' }, { n: 1 }]);
  assert.deepEqual(f.statements.slice(1), [['row-1', 'row-2', 'row-3'], ['row-1'], ['row-2'], ['row-3']]);

  const lost = fakePool({ drop: true });
  const g2 = new InsertGroups(lost.pool, { maxInFlight: 1 });
  const h0 = g2.add(row(0));
  await tick();
  const two = [1, 2].map((i) => g2.add(row(i)).then(() => 'stored', (err: Error) => err.message));
  lost.release();
  await h0;
  await tick();
  lost.release();
  assert.deepEqual(await Promise.all(two), ['Connection terminated unexpectedly', 'Connection terminated unexpectedly']);
  assert.equal(lost.statements.length, 2, 'not written again: it may have been committed');
});

test('a recipient id the user routes would refuse is refused when sending too, and no user is made', async () => {
  for (const bad of ['a/b', 'two words', '..', 'x'.repeat(201)]) {
    for (const to of [{ userId: bad }, { userIds: ['fine-user', bad] }]) {
      const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to, title: 'x', channels: ['inbox'] } });
      assert.equal(res.statusCode, 400, `${JSON.stringify(to)}: ${res.body}`);
      assert.equal(res.json().error.code, 'VALIDATION_FAILED');
      const batch = await h.request({ method: 'POST', url: '/v1/notifications/batch', payload: { items: [{ to, title: 'x', channels: ['inbox'] }] } });
      assert.ok(batch.statusCode === 400 || batch.json().items?.[0]?.error?.code === 'VALIDATION_FAILED', `batch ${JSON.stringify(to)}: ${batch.body}`);
    }
    const { rows } = await h.db.pool.query(`SELECT count(*)::int AS n FROM users WHERE id = $1`, [bad]);
    assert.equal(rows[0].n, 0, `no user ${bad}`);
  }
});

test('a notification or a batch item naming an app that does not exist is 422 UNKNOWN_APP and stores nothing', async () => {
  const count = async () => (await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM notifications`)).rows[0]!.n;
  const before = await count();
  for (const payload of [
    { to: { userId: 'app-less' }, appId: 'no-such-app', title: 'x', channels: ['inbox'] },
    { to: { userIds: ['app-less', 'app-less-2'] }, appId: 'no-such-app', title: 'x', channels: ['inbox'], sendAt: new Date(Date.now() + 3_600_000).toISOString() },
    { to: { all: true, appId: 'no-such-app' }, title: 'x', channels: ['inbox'] },
    { to: { userId: 'app-less' }, appId: 'no-such-app', title: 'x', channels: ['inbox'], digest: { key: 'd', window: '1h' } },
  ]) {
    const res = await post(payload);
    assert.equal(res.statusCode, 422, `${JSON.stringify(payload)}: ${res.body}`);
    assert.equal(res.json().error.code, 'UNKNOWN_APP');
    const field = 'all' in payload.to ? 'body.to.appId' : 'body.appId';
    assert.equal(res.json().error.details[0].field, field);
  }
  const batch = await h.request({ method: 'POST', url: '/v1/notifications/batch', payload: { items: [
    { to: { userId: 'app-less' }, appId: 'no-such-app', title: 'x', channels: ['inbox'] },
    { to: { userId: 'app-less' }, title: 'fine', channels: ['inbox'] },
  ] } });
  assert.equal(batch.statusCode, 200, batch.body);
  const [refused, fine] = batch.json().items;
  assert.equal(refused.error.code, 'UNKNOWN_APP');
  assert.ok(fine.id, batch.body);
  assert.equal(await count(), before + 1, 'only the batch item for the default app was stored');

  // Once the app exists, the same notification is accepted (and the app is remembered).
  assert.equal((await h.request({ method: 'PUT', url: '/v1/apps/no-such-app', payload: { name: 'Now there' } })).statusCode, 200);
  for (let i = 0; i < 2; i++) {
    const res = await post({ to: { userId: 'app-less' }, appId: 'no-such-app', title: 'x', channels: ['inbox'] });
    assert.equal(res.statusCode, 202, res.body);
  }
});
