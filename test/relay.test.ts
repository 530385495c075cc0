/**
 * The event relay against real engines: NATS JetStream (the machine's server, and a private
 * nats-server that is killed mid-run), the fauxqs SNS/SQS emulator and Google's Pub/Sub emulator.
 */
import { describe, it, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createLogger } from '../src/log/index.ts';
import { appendEvents, type NewEvent } from '../src/events/outbox.ts';
import { NatsBroker, PubSubBroker, SnsSqsBroker, type Broker, type BrokerMessage, type Subscription } from '../src/brokers/index.ts';
import { EventRelay, unpublishedCount } from '../src/relay/index.ts';
import { relayRole } from '../src/runtime/roles/relay.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { testContext } from './helpers/app.ts';
import { startNatsServer, startPubSubEmulator, startSqsEmulator } from './helpers/broker-emulators.ts';

const log = createLogger('silent');
const NATS_URL = 'nats://127.0.0.1:4222';
const RUN = `hr${randomBytes(3).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Cleanups run last-registered first (node:test runs t.after hooks in registration order). */
function deferrer(t: TestContext): (fn: () => unknown) => void {
  const fns: Array<() => unknown> = [];
  t.after(async () => {
    for (const fn of fns.reverse()) await Promise.resolve().then(fn).catch(() => undefined);
  });
  return (fn) => {
    fns.push(fn);
  };
}

function events(users: number, perUser: number, prefix = 'u'): NewEvent[] {
  const out: NewEvent[] = [];
  for (let i = 0; i < perUser; i++) {
    for (let u = 0; u < users; u++) {
      out.push({ userId: `${prefix}${u}`, type: 'reminder:updated', itemType: 'reminder', itemId: `r${u}`, data: { seq: i } });
    }
  }
  return out;
}

async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Consume a topic into an array, acking each message. */
async function collect(broker: Broker, topic: string, subscription: string): Promise<{ got: BrokerMessage[]; sub: Subscription }> {
  const got: BrokerMessage[] = [];
  const sub = await broker.subscribe({ topic, subscription, maxInFlight: 1 }, async (m) => {
    got.push(m);
    await m.ack();
  });
  return { got, sub };
}

type Body = { id: string; type: string; itemType: string; itemId: string; userId: string | null; data: { seq: number }; createdAt: string };
const bodyOf = (m: BrokerMessage) => JSON.parse(m.body.toString()) as Body;

/** Every user's events arrive in id order, and every id arrives. */
function assertOrderedAndComplete(got: readonly BrokerMessage[], expectedIds: readonly string[]): void {
  const ids = new Set(got.map((m) => bodyOf(m).id));
  assert.equal(ids.size, expectedIds.length, 'every event published');
  for (const id of expectedIds) assert.ok(ids.has(id), `event ${id} published`);
  const lastByUser = new Map<string, number>();
  for (const m of got) {
    const b = bodyOf(m);
    const prev = lastByUser.get(b.userId ?? '') ?? 0;
    assert.ok(Number(b.id) > prev || ids.size !== got.length, `user ${b.userId}: event ${b.id} after ${prev}`);
    lastByUser.set(b.userId ?? '', Math.max(prev, Number(b.id)));
  }
}

async function allIds(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>('SELECT id::text AS id FROM events ORDER BY id');
  return rows.map((r) => r.id);
}

describe('event relay', () => {
  let db: TestDatabase;
  const cleanup: Array<() => Promise<void>> = [];
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
    const nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    for await (const s of jsm.streams.list()) if (s.config.name.includes(RUN)) await jsm.streams.delete(s.config.name);
    await nc.close();
    await db.close();
  });

  it('the role is configured only by HERALD_EVENTS_BROKER', async () => {
    assert.equal(relayRole(await testContext(db)), undefined);
    const role = relayRole(await testContext(db, { HERALD_EVENTS_BROKER: 'nats', HERALD_NATS_URL: NATS_URL }));
    assert.equal(role?.name, 'relay');
  });

  it('publishes every event to NATS with the seed attributes, in order per user, and marks them published', async (t) => {
    const defer = deferrer(t);
    await db.pool.query('TRUNCATE events');
    const topic = `${RUN}-events-1`;
    const broker = new NatsBroker({ url: NATS_URL, autoCreate: true, log });
    defer(() => broker.close());
    await appendEvents(db.pool, events(5, 20));
    await appendEvents(db.pool, [{ userId: null, type: 'app:updated', itemType: 'app', itemId: 'default' }]);
    const { got } = await collect(broker, topic, `${RUN}-sub-1`);
    const relay = new EventRelay({ pool: db.pool, broker, topic, log, batchSize: 37 });
    await relay.start();
    defer(() => relay.stop());
    const ids = await allIds(db);
    await waitUntil('all events', () => got.length >= ids.length);
    assertOrderedAndComplete(got, ids);
    assert.equal(await unpublishedCount(db.pool), 0);
    const first = got.find((m) => bodyOf(m).userId === 'u0');
    assert.equal(first?.attributes.eventType, 'reminder:updated');
    assert.equal(first?.attributes.eventItemType, 'reminder');
    assert.equal(first?.attributes.userId, 'u0');
    assert.equal(first?.attributes.dedupeId, bodyOf(first).id);
    assert.deepEqual(bodyOf(first).data, { seq: 0 });
    const appEvent = got.find((m) => bodyOf(m).type === 'app:updated');
    assert.equal(appEvent?.attributes.userId, '');

    // A new event wakes the relay through NOTIFY, long before its 60 s timer would.
    await relay.stop();
    const quiet = new EventRelay({ pool: db.pool, broker, topic, log, pollIntervalMs: 60_000 });
    await quiet.start();
    defer(() => quiet.stop());
    await sleep(200);
    const before = got.length;
    await appendEvents(db.pool, [{ userId: 'u0', type: 'reminder:deleted', itemType: 'reminder', itemId: 'r0' }]);
    await waitUntil('the notified event', () => got.length > before, 10_000);
    assert.equal(bodyOf(got.at(-1) as BrokerMessage).type, 'reminder:deleted');
    await quiet.stop();
  });

  it('several relays share the outbox: each event once, each user in order', async (t) => {
    const defer = deferrer(t);
    await db.pool.query('TRUNCATE events');
    const topic = `${RUN}-events-2`;
    const broker = new NatsBroker({ url: NATS_URL, autoCreate: true, log });
    defer(() => broker.close());
    const { got } = await collect(broker, topic, `${RUN}-sub-2`);
    await appendEvents(db.pool, events(20, 50));
    const relays = [1, 2, 3].map(() => new EventRelay({ pool: db.pool, broker, topic, log, batchSize: 100 }));
    await Promise.all(relays.map((r) => r.start()));
    const ids = await allIds(db);
    await waitUntil('all events published', async () => (await unpublishedCount(db.pool)) === 0);
    await waitUntil('all events received', () => got.length >= ids.length);
    await Promise.all(relays.map((r) => r.stop()));
    await sleep(300);
    assert.equal(got.length, ids.length, 'no event published twice');
    assertOrderedAndComplete(got, ids);
  });

  it('NATS killed in the middle of a run (5 s outage): the backlog drains when it returns, nothing lost', async (t) => {
    const defer = deferrer(t);
    await db.pool.query('TRUNCATE events');
    const server = await startNatsServer();
    defer(() => server.destroy());
    const topic = `${RUN}-events-3`;
    const broker = new NatsBroker({ url: server.url, autoCreate: true, log, publishTimeoutMs: 1000 });
    defer(() => broker.close());
    const relay = new EventRelay({ pool: db.pool, broker, topic, log, batchSize: 50, maxBackoffMs: 1000 });
    await relay.start();
    defer(() => relay.stop());
    await appendEvents(db.pool, events(10, 10));
    await waitUntil('the first events', async () => (await unpublishedCount(db.pool)) === 0);
    await server.stop(true); // kill -9
    // Events keep being written while the broker is away.
    for (let i = 0; i < 10; i++) {
      await appendEvents(db.pool, events(10, 3, 'v'));
      await sleep(500);
    }
    assert.ok((await unpublishedCount(db.pool)) > 0, 'a backlog while the broker is down');
    await server.restart();
    await waitUntil('the backlog to drain', async () => (await unpublishedCount(db.pool)) === 0, 60_000);
    await relay.stop();
    const reader = new NatsBroker({ url: server.url, autoCreate: true, log });
    defer(() => reader.close());
    const { got } = await collect(reader, topic, `${RUN}-sub-3`);
    const ids = await allIds(db);
    await waitUntil('every event read back', () => got.length >= ids.length);
    await sleep(300);
    assert.equal(got.length, ids.length, 'no duplicates in the stream (Nats-Msg-Id)');
    assertOrderedAndComplete(got, ids);
  });

  it('publishes to SNS with the seed-002 attributes, readable from a subscribed SQS queue', async (t) => {
    const defer = deferrer(t);
    await db.pool.query('TRUNCATE events');
    const sqs = await startSqsEmulator();
    defer(() => sqs.stop());
    const broker = new SnsSqsBroker({ autoCreate: true, log, endpoint: sqs.endpoint, region: sqs.region, credentials: sqs.credentials, waitTimeSeconds: 1 });
    defer(() => broker.close());
    const topic = `${RUN}-events`;
    const { got } = await collect(broker, topic, `${RUN}-queue`);
    await appendEvents(db.pool, events(3, 4));
    const relay = new EventRelay({ pool: db.pool, broker, topic, log });
    await relay.start();
    defer(() => relay.stop());
    const ids = await allIds(db);
    await waitUntil('all events', () => got.length >= ids.length);
    await relay.stop();
    assert.deepEqual(new Set(got.map((m) => bodyOf(m).id)), new Set(ids));
    const m = got[0] as BrokerMessage;
    assert.equal(m.attributes.eventType, 'reminder:updated');
    assert.equal(m.attributes.eventItemType, 'reminder');
    assert.match(m.attributes.userId ?? '', /^u\d$/);
  });

  it('publishes to Google Pub/Sub with ordering keys per user', async (t) => {
    const defer = deferrer(t);
    await db.pool.query('TRUNCATE events');
    const emulator = await startPubSubEmulator();
    defer(() => emulator.stop());
    const broker = new PubSubBroker({ projectId: 'herald-test', emulatorHost: emulator.host, autoCreate: true, log });
    defer(() => broker.close());
    const topic = `${RUN}-events`;
    const { got } = await collect(broker, topic, `${RUN}-sub`);
    await appendEvents(db.pool, events(4, 10));
    const relay = new EventRelay({ pool: db.pool, broker, topic, log });
    await relay.start();
    defer(() => relay.stop());
    const ids = await allIds(db);
    await waitUntil('all events', () => got.length >= ids.length);
    await relay.stop();
    assertOrderedAndComplete(got, ids);
    assert.equal(got[0]?.attributes.eventItemType, 'reminder');
  });
});
