/**
 * Threats to the delivery engine's promise "each delivery once, none lost": a provider answer
 * that poisons the recording of other users' outcomes, and a worker that loses its liveness lock
 * to a database blip while it still sends. docs/security.md describes each threat and defence.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Registry } from 'prom-client';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { startEngine, eventually, scriptedChannel } from './helpers/engine.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';
import { FakeWebPushServer } from './fakes/webpush-server.ts';
import { WebPushChannel, generateVapidKeys } from '../src/channels/webpush/index.ts';
import { createInboxChannel } from '../src/channels/inbox/index.ts';
import type { Channel, DeliveryJob, Provider } from '../src/channels/types.ts';
import { OutboundPolicy } from '../src/outbound/index.ts';
import { claimDue, recordOutcomes } from '../src/dispatch/repository.ts';
import { DeliveryWorker } from '../src/dispatch/worker.ts';
import { engineMetrics } from '../src/dispatch/metrics.ts';
import { createPool } from '../src/db/pool.ts';
import { NatsBroker } from '../src/brokers/index.ts';
import { DispatchPublisher, DispatchWorker } from '../src/dispatch/broker/index.ts';

const VAPID = generateVapidKeys();
const LIVENESS_LOCK_CLASS = 7_310_003;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let h: TestHarness;
before(async () => {
  h = await createHarness({ HERALD_VAPID_PUBLIC_KEY: VAPID.publicKey, HERALD_VAPID_PRIVATE_KEY: VAPID.privateKey, HERALD_VAPID_SUBJECT: 'mailto:ops@example.com' });
});
after(async () => {
  await h.close();
});

async function deliveries(notificationId: string): Promise<Array<{ id: string; user_id: string; status: string; locked_by: string | null; due_at: Date; last_error: string | null }>> {
  const { rows } = await h.db.pool.query(
    `SELECT id::text AS id, user_id, status, locked_by, due_at, last_error FROM deliveries WHERE notification_id = $1 ORDER BY id`,
    [notificationId],
  );
  return rows;
}

describe("a poisoned Retry-After cannot make other users' deliveries be sent twice", () => {
  it("Retry-After: 99999999999999 and a far HTTP-date from one user's endpoint: the rest of the slice is recorded sent exactly once, the poisoned ones retry within an hour", async () => {
    const fake = await new FakeWebPushServer().start();
    const webpush = new WebPushChannel({ credentials: h.services.credentials, log: h.ctx.log, outbound: new OutboundPolicy(h.ctx.config.outbound.allow) }, { ca: fake.certificate.ca });
    // Every outcome of the claim lands in one slice; a short lease re-sends whatever is not recorded.
    const engine = await startEngine(h, [webpush], { flushSize: 7, flushDelayMs: 2_000, leaseSeconds: 3 });
    try {
      const users = ['u1', 'u2', 'u3', 'u4', 'u5'];
      const subs = new Map<string, string>();
      for (const user of [...users, 'mallory', 'mallory']) {
        const sub = fake.subscribe(VAPID.publicKey);
        subs.set(sub.id, user);
        const res = await h.request({ method: 'POST', url: `/v1/users/${user}/devices`, payload: { platform: 'web', subscription: { endpoint: sub.endpoint, keys: sub.keys } } });
        assert.ok([200, 201].includes(res.statusCode), res.body);
        if (user === 'mallory') {
          const poison = [...subs.values()].filter((u) => u === 'mallory').length === 1 ? '99999999999999' : 'Fri, 31 Dec 9999 23:59:59 GMT';
          fake.failNext(sub.id, ...Array.from({ length: 10 }, () => ({ status: 429, retryAfter: poison })));
        }
      }
      const created = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userIds: [...users, 'mallory'] }, title: 'hello', channels: ['push'] } });
      assert.equal(created.statusCode, 202, created.body);
      const id = created.json().id as string;

      const rows = await eventually(async () => {
        const r = await deliveries(id);
        return r.filter((d) => d.user_id !== 'mallory').every((d) => d.status === 'sent') ? r : undefined;
      }, 20_000, "the other users' deliveries to be recorded sent");
      const received = new Map<string, number>();
      for (const push of fake.received) received.set(push.subscriptionId, (received.get(push.subscriptionId) ?? 0) + 1);
      for (const [subId, user] of subs) if (user !== 'mallory') assert.equal(received.get(subId), 1, `${user} received ${received.get(subId)} pushes`);

      const poisoned = rows.filter((d) => d.user_id === 'mallory');
      assert.equal(poisoned.length, 2);
      for (const d of poisoned) {
        assert.equal(d.status, 'pending');
        assert.equal(d.last_error, 'push service answered 429');
        const wait = d.due_at.getTime() - Date.now();
        assert.ok(wait > 55 * 60_000 && wait <= 60 * 60_000 + 5_000, `retried in ${Math.round(wait / 60_000)} min`);
      }
    } finally {
      await engine.stop();
      await fake.close();
    }
  });

  it('a claim gives every row its notification\'s content, read once per notification (rows of two notifications each get their own)', async () => {
    const a = await h.services.notifications.create({ to: { userIds: ['c1', 'c2', 'c3'] }, title: 'first', data: { n: 1 }, channels: ['inbox'] }, { source: 'test' });
    const b = await h.services.notifications.create({ to: { userIds: ['c1', 'c2'] }, title: 'second', channels: ['inbox'] }, { source: 'test' });
    const claimed = await claimDue(h.db.pool, 'content-test', 10, 60, ['inbox']);
    const mine = claimed.filter((j) => j.notificationId === a.id || j.notificationId === b.id);
    assert.equal(mine.length, 5);
    const ofA = mine.filter((j) => j.notificationId === a.id);
    const ofB = mine.filter((j) => j.notificationId === b.id);
    assert.deepEqual(ofA.map((j) => [j.content.title, j.content.data]), [['first', { n: 1 }], ['first', { n: 1 }], ['first', { n: 1 }]]);
    assert.deepEqual(ofB.map((j) => j.content.title), ['second', 'second']);
    assert.ok(ofA.every((j) => j.content === ofA[0]!.content), 'one content object per notification');
    await recordOutcomes(h.db.pool, mine.map((j) => ({ id: j.id, kind: 'sent' as const })));
  });

  it('one outcome the database refuses, for any reason, cannot fail its slice: the others are recorded and it is retried', async () => {
    const created = await h.services.notifications.create({ to: { userIds: ['r1', 'r2', 'r3', 'r4'] }, title: 'x', channels: ['inbox'] }, { source: 'test' });
    const claimed = await claimDue(h.db.pool, 'slice-test', 10, 60, ['inbox']);
    const [d1, d2, d3, d4] = (await deliveries(created.id)).map((d) => d.id);
    assert.equal(claimed.length, 4);
    // An unforeseen refusal of one row, as a data error PostgreSQL raises (here from a trigger).
    await h.db.pool.query(`CREATE FUNCTION herald_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.last_error = 'poison' THEN RAISE EXCEPTION 'this row cannot be written' USING ERRCODE = '22023'; END IF; RETURN NEW; END $$`);
    await h.db.pool.query(`CREATE TRIGGER herald_test_poison BEFORE UPDATE ON deliveries FOR EACH ROW EXECUTE FUNCTION herald_test_poison()`);
    try {
      const unrecorded = await recordOutcomes(h.db.pool, [
        { id: d1!, kind: 'sent', providerId: 'ok\u0000-1' },
        { id: d2!, kind: 'failed', error: 'poison' },
        { id: d3!, kind: 'retry', error: 'a NUL \u0000 from a provider', delayMs: Number.NaN },
        { id: d4!, kind: 'retry', error: 'later', delayMs: 1e20 },
        { id: 'not-a-delivery-id', kind: 'sent' }, // a forged broker message
      ]);
      assert.deepEqual(unrecorded, ['not-a-delivery-id']);
    } finally {
      await h.db.pool.query(`DROP TRIGGER herald_test_poison ON deliveries; DROP FUNCTION herald_test_poison()`);
    }
    const rows = new Map((await deliveries(created.id)).map((d) => [d.id, d]));
    assert.equal(rows.get(d1!)!.status, 'sent');
    assert.equal(rows.get(d2!)!.status, 'pending', 'the refused row is retried, not left leased');
    assert.match(rows.get(d2!)!.last_error!, /could not record/);
    assert.equal(rows.get(d3!)!.status, 'pending');
    assert.equal(rows.get(d3!)!.last_error, 'a NUL  from a provider');
    assert.equal(rows.get(d4!)!.status, 'pending');
    assert.ok(rows.get(d4!)!.due_at.getTime() - Date.now() <= 24 * 3600_000);
  });
});

/** Whether a session holds the liveness lock of `id`, and which backend. */
async function lockHolder(id: string): Promise<number | undefined> {
  const { rows } = await h.db.pool.query<{ pid: number }>(
    `SELECT pid FROM pg_locks
      WHERE locktype = 'advisory' AND granted AND objsubid = 2
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND classid = $1::bigint::oid AND objid = ((hashtext($2)::bigint + 4294967296) % 4294967296)::oid`,
    [LIVENESS_LOCK_CLASS, id],
  );
  return rows[0]?.pid;
}

/**
 * Kill the session holding `id`'s liveness lock and take the lock from another session before its
 * owner can, as a session of the old connection lingering on the server would hold it. The thief
 * queues for the lock before the holder is killed, so PostgreSQL hands it the lock the moment the
 * holder's session ends: the owner's own quick retry cannot win the race.
 */
async function stealLivenessLock(id: string): Promise<pg.Client> {
  const thief = new pg.Client({ connectionString: h.db.url });
  await thief.connect();
  const pid = await lockHolder(id);
  if (pid === undefined) throw new Error('nobody holds the liveness lock');
  const { rows: me } = await thief.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const taken = thief.query('SELECT pg_advisory_lock($1, hashtext($2))', [LIVENESS_LOCK_CLASS, id]);
  await eventually(async () => {
    const { rows } = await h.db.pool.query(`SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND NOT granted`, [me[0]!.pid]);
    return rows.length > 0;
  }, 5_000, 'the thief to queue for the lock');
  await h.db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
  await taken;
  return thief;
}

describe('a worker that loses its liveness lock to a database blip', () => {
  it('takes it back, and claims nothing while it does not hold it', async () => {
    const sent: DeliveryJob[] = [];
    const channel = scriptedChannel('webhook', (job) => {
      sent.push(job);
      return { status: 'sent' };
    });
    const worker = new DeliveryWorker(h.db.pool, new Map<Provider, Channel>([['webhook', channel]]), h.ctx.log, engineMetrics(new Registry()), { batchSize: 50, concurrency: 50, leaseSeconds: 60 });
    await worker.start();
    try {
      assert.ok(await lockHolder(worker.id));
      const thief = await stealLivenessLock(worker.id);
      const created = await h.services.notifications.create({ to: { userIds: ['l1', 'l2', 'l3'] }, title: 'x', channels: ['webhook'] }, { source: 'test' });
      await sleep(1_500); // several claim rounds' worth: the NOTIFY of the new rows wakes the worker at once
      assert.equal(sent.length, 0, 'the worker claimed while another session held its liveness lock');
      assert.ok((await deliveries(created.id)).every((d) => d.status === 'pending' && d.locked_by === null));

      await thief.end(); // the old session is finally gone
      const holder = await eventually(() => lockHolder(worker.id), 10_000, 'the worker to take its lock back');
      assert.ok(holder);
      await eventually(async () => (await deliveries(created.id)).every((d) => d.status === 'sent'), 10_000, 'the deliveries to be sent');
      assert.equal(sent.length, 3);
    } finally {
      await worker.stop(2_000);
    }
  });

  it('cut off from the database for 1.5 s, it keeps its rows: another worker does not release them, and each delivery is sent once', async () => {
    const proxy = await startTcpProxy(h.db.url);
    const poolA = createPool(proxy.url, 4);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const sentByA: string[] = [];
    const sentByB: string[] = [];
    const slow = scriptedChannel('webhook', async (job) => {
      sentByA.push(job.id);
      await gate; // in flight through the outage
      return { status: 'sent' };
    });
    const quick = scriptedChannel('webhook', (job) => {
      sentByB.push(job.id);
      return { status: 'sent' };
    });
    const a = new DeliveryWorker(poolA, new Map<Provider, Channel>([['webhook', slow]]), h.ctx.log, engineMetrics(new Registry()), { batchSize: 50, concurrency: 50, leaseSeconds: 60 });
    const b = new DeliveryWorker(h.db.pool, new Map<Provider, Channel>([['webhook', quick]]), h.ctx.log, engineMetrics(new Registry()), {
      batchSize: 50, concurrency: 50, leaseSeconds: 60, sweepIntervalMs: 100, livenessGraceMs: 4_000,
    });
    await a.start();
    try {
      const created = await h.services.notifications.create({ to: { userIds: ['p1', 'p2', 'p3', 'p4'] }, title: 'x', channels: ['webhook'] }, { source: 'test' });
      await eventually(async () => sentByA.length === 4, 10_000, 'worker A to take the deliveries');
      await b.start();
      const cutAt = Date.now();
      proxy.cut();
      await sleep(1_500);
      proxy.restore();
      await eventually(() => lockHolder(a.id), 8_000, 'worker A to take its liveness lock back');
      await sleep(Math.max(0, cutAt + 5_500 - Date.now())); // past B's grace, counted from the cut
      assert.deepEqual(sentByB, [], 'worker B sent deliveries worker A still held');
      assert.ok((await deliveries(created.id)).every((d) => d.status === 'sending' && d.locked_by === a.id));

      open();
      await eventually(async () => (await deliveries(created.id)).every((d) => d.status === 'sent'), 15_000, 'the deliveries to be recorded');
      assert.equal(sentByA.length, 4);
      assert.equal(new Set(sentByA).size, 4);
    } finally {
      open();
      await b.stop(2_000).catch(() => undefined);
      await a.stop(2_000);
      await poolA.end();
      await proxy.close();
    }
  });

  it('the dispatch publisher takes its lock back too, and publishes nothing while it does not hold it', async () => {
    const run = `sec${randomBytes(3).toString('hex')}`;
    const broker = new NatsBroker({ url: 'nats://127.0.0.1:4222', autoCreate: true, log: h.ctx.log });
    const publisher = new DispatchPublisher({ pool: h.db.pool, broker, log: h.ctx.log, providers: ['inbox'], prefix: run });
    const consumer = new DispatchWorker({ pool: h.db.pool, broker, log: h.ctx.log, channels: new Map<Provider, Channel>([['inbox', createInboxChannel(h.db.pool)]]), prefix: run });
    await consumer.start();
    await publisher.start();
    try {
      const thief = await stealLivenessLock(publisher.id);
      const created = await h.services.notifications.create({ to: { userIds: ['n1', 'n2'] }, title: 'x', channels: ['inbox'] }, { source: 'test' });
      await sleep(1_500);
      assert.ok((await deliveries(created.id)).every((d) => d.status === 'pending' && d.locked_by === null), 'the publisher claimed without its liveness lock');
      await thief.end();
      await eventually(() => lockHolder(publisher.id), 10_000, 'the publisher to take its lock back');
      await eventually(async () => (await deliveries(created.id)).every((d) => d.status === 'sent'), 15_000, 'the deliveries to be sent');
    } finally {
      await publisher.stop();
      await consumer.stop();
      await broker.close();
      const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
      const jsm = await jetstreamManager(nc);
      for await (const s of jsm.streams.list()) if (s.config.name.includes(run)) await jsm.streams.delete(s.config.name);
      await nc.close();
    }
  });
});
