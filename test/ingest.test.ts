/**
 * Broker ingest of `POST /v1/notifications` bodies from real engines: NATS JetStream, SQS
 * (fauxqs, fed through its SNS topic) and the Google Pub/Sub emulator.
 */
import { describe, it, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { IngestSource } from '../src/config/index.ts';
import { createLogger } from '../src/log/index.ts';
import { DEAD_LETTER_REASON, NatsBroker, PubSubBroker, SnsSqsBroker, type Broker, type BrokerMessage } from '../src/brokers/index.ts';
import { NotificationIngest } from '../src/ingest/index.ts';
import { ingestRole } from '../src/runtime/roles/ingest.ts';
import type { NotificationCreator } from '../src/notifications/types.ts';
import type { Services } from '../src/runtime/services.ts';
import type { TestDatabase } from './helpers/db.ts';
import { createHarness, testContext, type TestHarness } from './helpers/app.ts';
import { startNatsServer, startPubSubEmulator, startSqsEmulator } from './helpers/broker-emulators.ts';

const log = createLogger('silent');
const NATS_URL = 'nats://127.0.0.1:4222';
const RUN = `hi${randomBytes(3).toString('hex')}`;
let seq = 0;
const unique = (what: string) => `${RUN}-${what}-${++seq}`;
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

async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface Engine {
  readonly source: IngestSource;
  start(): Promise<void>;
  make(): Broker;
  stop(): Promise<void>;
}

function engines(): Engine[] {
  let sqs: Awaited<ReturnType<typeof startSqsEmulator>> | undefined;
  let pubsub: Awaited<ReturnType<typeof startPubSubEmulator>> | undefined;
  return [
    { source: 'nats', start: async () => undefined, make: () => new NatsBroker({ url: NATS_URL, autoCreate: true, log }), stop: async () => undefined },
    {
      source: 'sqs',
      start: async () => {
        sqs = await startSqsEmulator();
      },
      make: () =>
        new SnsSqsBroker({ autoCreate: true, log, endpoint: sqs?.endpoint ?? '', region: 'us-east-1', credentials: sqs?.credentials ?? { accessKeyId: 'x', secretAccessKey: 'x' }, waitTimeSeconds: 1 }),
      stop: async () => sqs?.stop(),
    },
    {
      source: 'pubsub',
      start: async () => {
        pubsub = await startPubSubEmulator();
      },
      make: () => new PubSubBroker({ projectId: 'herald-test', emulatorHost: pubsub?.host ?? '', autoCreate: true, log }),
      stop: async () => pubsub?.stop(),
    },
  ];
}

const valid = (userId: string, title = 'Hello') => JSON.stringify({ to: { userId }, title, body: 'from a queue', channels: ['inbox'] });

async function notificationsOf(db: TestDatabase, userId: string): Promise<Array<{ source: string; dedupe_key: string; title: string }>> {
  const { rows } = await db.pool.query<{ source: string; dedupe_key: string; title: string }>(
    `SELECT source, dedupe_key, payload->>'title' AS title FROM notifications WHERE $1 = ANY(user_ids) ORDER BY created_at`,
    [userId],
  );
  return rows;
}

describe('broker ingest', () => {
  let h: TestHarness;
  let db: TestDatabase;
  let services: Services;
  before(async () => {
    h = await createHarness();
    db = h.db;
    services = h.services;
  });
  after(async () => {
    const nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    for await (const s of jsm.streams.list()) if (s.config.name.includes(RUN)) await jsm.streams.delete(s.config.name);
    await nc.close();
    await h.close();
  });

  it('the role runs only when a source is named, and refuses an unknown one', async () => {
    const ctx = await testContext(db);
    assert.equal(ingestRole(ctx, services.notifications, undefined), undefined);
    assert.throws(() => ingestRole(ctx, services.notifications, 'kafka'), /expected one of pubsub, sqs, nats/);
    const role = ingestRole(await testContext(db, { HERALD_INGEST_FROM: 'nats', HERALD_INGEST_TOPIC: unique('topic'), HERALD_INGEST_SUBSCRIPTION: unique('sub') }), services.notifications, undefined);
    assert.equal(role?.name, 'ingest');
    await role?.start();
    await role?.stop();
  });

  for (const engine of engines()) {
    describe(`from ${engine.source}`, () => {
      let broker: Broker;
      before(async () => {
        await engine.start();
        broker = engine.make();
      });
      after(async () => {
        await broker.close();
        await engine.stop();
      });

      it('creates a notification per valid message; invalid ones are dead-lettered with the reason', async (t) => {
    const defer = deferrer(t);
        const topic = unique('topic');
        const subscription = unique('sub');
        const ingest = new NotificationIngest({ broker, source: engine.source, topic, subscription, creator: services.notifications, log });
        await ingest.start();
        defer(() => ingest.stop());
        const dead: BrokerMessage[] = [];
        const dlq = await broker.subscribe(broker.deadLetterTarget(subscription), async (m) => {
          dead.push(m);
          await m.ack();
        });
        defer(() => dlq.close());
        const user = unique('user');
        await broker.publish(topic, valid(user, 'first'));
        await broker.publish(topic, '{not json', { attributes: { note: 'broken' } });
        await broker.publish(topic, JSON.stringify({ title: 'no recipient' }));
        await broker.publish(topic, JSON.stringify({ to: { device: { platform: 'ios', token: 'ab'.repeat(32) } }, channels: ['email'] }));
        await broker.publish(topic, valid(user, 'second'));
        await waitUntil('two notifications', async () => (await notificationsOf(db, user)).length === 2);
        await waitUntil('three dead letters', () => dead.length === 3);
        const rows = await notificationsOf(db, user);
        assert.deepEqual(rows.map((r) => r.source), [`ingest:${engine.source}`, `ingest:${engine.source}`]);
        assert.deepEqual(new Set(rows.map((r) => r.title)), new Set(['first', 'second']));
        assert.ok(rows.every((r) => r.dedupe_key.startsWith(`${engine.source}:`)));
        const reasons = dead.map((m) => m.attributes[DEAD_LETTER_REASON] ?? '').sort();
        assert.match(reasons[0] ?? '', /^MALFORMED_JSON: /);
        assert.match(reasons[1] ?? '', /^UNPROCESSABLE: .*push channel/);
        assert.match(reasons[2] ?? '', /^VALIDATION_FAILED: .*to/);
        const broken = dead.find((m) => m.body.toString() === '{not json');
        assert.equal(broken?.attributes.note, 'broken');
      });

      it('a consumer that dies after recording but before acking: redelivered, recorded once', async (t) => {
    const defer = deferrer(t);
        const topic = unique('topic');
        const subscription = unique('sub');
        let calls = 0;
        const dying: NotificationCreator = {
          async create(input, options) {
            calls++;
            const created = await services.notifications.create(input, options);
            if (calls === 1) throw new Error('process died before the ack'); // committed, not acked
            return created;
          },
        };
        const ingest = new NotificationIngest({ broker, source: engine.source, topic, subscription, creator: dying, log });
        await ingest.start();
        defer(() => ingest.stop());
        const user = unique('user');
        await broker.publish(topic, valid(user));
        await waitUntil('the redelivery', () => calls >= 2, 30_000);
        await sleep(300);
        assert.equal((await notificationsOf(db, user)).length, 1);
      });
    });
  }

  it('NATS killed for 5 s while ingesting: every message becomes exactly one notification', async (t) => {
    const defer = deferrer(t);
    const server = await startNatsServer();
    defer(() => server.destroy());
    const broker = new NatsBroker({ url: server.url, autoCreate: true, log, publishTimeoutMs: 1000 });
    defer(() => broker.close());
    const topic = unique('topic');
    const ingest = new NotificationIngest({ broker, source: 'nats', topic, subscription: unique('sub'), creator: services.notifications, log });
    await ingest.start();
    defer(() => ingest.stop());
    const user = unique('user');
    for (let i = 0; i < 30; i++) await broker.publish(topic, valid(user, `a${i}`));
    await server.stop(true);
    await sleep(5000);
    await server.restart();
    let sent = 0;
    await waitUntil('publishing again', async () => {
      try {
        await broker.publish(topic, valid(user, `b${sent}`));
        sent++;
      } catch {
        // still reconnecting
      }
      return sent === 30;
    }, 60_000);
    await waitUntil('60 notifications', async () => (await notificationsOf(db, user)).length >= 60, 60_000);
    await sleep(500);
    const titles = (await notificationsOf(db, user)).map((r) => r.title);
    assert.equal(titles.length, 60);
    assert.equal(new Set(titles).size, 60);
  });
});
