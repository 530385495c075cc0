/**
 * One contract, three real engines: every broker adapter must pass the same suite against
 * Google's Pub/Sub emulator, the fauxqs SNS/SQS emulator and the NATS server with JetStream.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createLogger } from '../src/log/index.ts';
import {
  BrokerError,
  DEAD_LETTER_REASON,
  NatsBroker,
  PubSubBroker,
  SnsSqsBroker,
  type Broker,
  type BrokerMessage,
  type SubscribeOptions,
  type Subscription,
} from '../src/brokers/index.ts';
import { startPubSubEmulator, startSqsEmulator } from './helpers/broker-emulators.ts';

const log = createLogger('silent');
const NATS_URL = 'nats://127.0.0.1:4222';
const RUN = `hc${randomBytes(3).toString('hex')}`;
let seq = 0;
const unique = (what: string) => `${RUN}-${what}-${++seq}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Engine {
  readonly name: string;
  /** Shortest lease the engine allows (Pub/Sub: 10 s). */
  readonly ackDeadlineSeconds: number;
  /** Drops a repeated dedupe id at publish time. */
  readonly dedupesOnPublish: boolean;
  /** Keeps per-key publish order on delivery. */
  readonly ordered: boolean;
  start(): Promise<void>;
  make(autoCreate?: boolean): Broker;
  stop(): Promise<void>;
}

function pubsubEngine(): Engine {
  let emulator: Awaited<ReturnType<typeof startPubSubEmulator>> | undefined;
  return {
    name: 'pubsub',
    ackDeadlineSeconds: 10,
    dedupesOnPublish: false,
    ordered: true,
    async start() {
      emulator = await startPubSubEmulator();
    },
    make: (autoCreate = true) => new PubSubBroker({ projectId: 'herald-test', emulatorHost: emulator?.host ?? '', autoCreate, log }),
    async stop() {
      await emulator?.stop();
    },
  };
}

function sqsEngine(): Engine {
  let emulator: Awaited<ReturnType<typeof startSqsEmulator>> | undefined;
  return {
    name: 'sns-sqs',
    ackDeadlineSeconds: 2,
    dedupesOnPublish: false,
    ordered: false,
    async start() {
      emulator = await startSqsEmulator();
    },
    make: (autoCreate = true) =>
      new SnsSqsBroker({
        autoCreate,
        log,
        endpoint: emulator?.endpoint ?? '',
        region: emulator?.region ?? 'us-east-1',
        credentials: emulator?.credentials ?? { accessKeyId: 'x', secretAccessKey: 'x' },
        waitTimeSeconds: 1,
      }),
    async stop() {
      await emulator?.stop();
    },
  };
}

function natsEngine(): Engine {
  return {
    name: 'nats',
    ackDeadlineSeconds: 2,
    dedupesOnPublish: true,
    ordered: true,
    async start() {},
    make: (autoCreate = true) => new NatsBroker({ url: NATS_URL, autoCreate, log }),
    async stop() {
      // Remove this run's streams from the shared server.
      const nc = await connect({ servers: NATS_URL });
      const jsm = await jetstreamManager(nc);
      for await (const s of jsm.streams.list()) {
        if (s.config.name.includes(RUN)) await jsm.streams.delete(s.config.name);
      }
      await nc.close();
    },
  };
}

/** Collects what a subscription receives; `next()` waits for the next delivery. */
class Inbox {
  readonly received: BrokerMessage[] = [];
  readonly at: number[] = [];
  #waiters: Array<() => void> = [];
  push(m: BrokerMessage): void {
    this.received.push(m);
    this.at.push(Date.now());
    for (const w of this.#waiters.splice(0)) w();
  }
  async waitFor(count: number, timeoutMs = 20_000): Promise<BrokerMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} deliveries, got ${this.received.length}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.received;
  }
}

for (const engine of [natsEngine(), sqsEngine(), pubsubEngine()]) {
  describe(`broker contract: ${engine.name}`, () => {
    let broker: Broker;
    const subs: Subscription[] = [];
    const extra: Broker[] = [];
    const make = (autoCreate?: boolean) => {
      const b = engine.make(autoCreate);
      extra.push(b);
      return b;
    };
    const subscribe = async (options: SubscribeOptions, handler: (m: BrokerMessage) => Promise<void>, b: Broker = broker) => {
      const s = await b.subscribe({ ackDeadlineSeconds: engine.ackDeadlineSeconds, ...options }, handler);
      subs.push(s);
      return s;
    };

    before(async () => {
      await engine.start();
      broker = engine.make();
    });
    after(async () => {
      for (const s of subs) await s.close();
      for (const b of extra) await b.close();
      await broker.close();
      await engine.stop();
    });

    it('delivers body and attributes; an acked message is not delivered again', async () => {
      const topic = unique('t');
      const subscription = unique('s');
      const inbox = new Inbox();
      const sub = await subscribe({ topic, subscription }, async (m) => {
        inbox.push(m);
        await m.ack();
      });
      const id = await broker.publish(topic, JSON.stringify({ hello: 'world' }), {
        attributes: { eventType: 'reminder:created', userId: 'u1' },
        dedupeId: 'evt-1',
      });
      assert.ok(id.length > 0);
      const [m] = await inbox.waitFor(1);
      assert.deepEqual(JSON.parse(m?.body.toString() ?? ''), { hello: 'world' });
      assert.equal(m?.attributes.eventType, 'reminder:created');
      assert.equal(m?.attributes.userId, 'u1');
      assert.equal(m?.attributes.dedupeId, 'evt-1');
      assert.equal(m?.deliveryAttempt, 1);
      assert.ok(Math.abs((m?.publishedAt.getTime() ?? 0) - Date.now()) < 60_000);
      await sub.close();
      // Re-open the subscription and wait past the lease: nothing comes back.
      const again = new Inbox();
      await subscribe({ topic, subscription }, async (x) => {
        again.push(x);
        await x.ack();
      });
      await sleep(engine.ackDeadlineSeconds * 1000 + 1500);
      assert.equal(again.received.length, 0);
    });

    it('nack with a delay redelivers no sooner than the delay, counting attempts', async () => {
      const topic = unique('t');
      const subscription = unique('s');
      const inbox = new Inbox();
      await subscribe({ topic, subscription }, async (m) => {
        inbox.push(m);
        if (m.deliveryAttempt === 1) await m.nack(1500);
        else await m.ack();
      });
      await broker.publish(topic, 'retry me');
      const [first, second] = await inbox.waitFor(2);
      assert.equal(first?.deliveryAttempt, 1);
      assert.equal(second?.deliveryAttempt, 2);
      assert.equal(second?.body.toString(), 'retry me');
      const gap = (inbox.at[1] ?? 0) - (inbox.at[0] ?? 0);
      assert.ok(gap >= 1000, `redelivered after ${gap} ms`);
    });

    it('a handler that throws has its message redelivered', async () => {
      const topic = unique('t');
      const subscription = unique('s');
      const inbox = new Inbox();
      await subscribe({ topic, subscription, retryDelayMs: 200 }, async (m) => {
        inbox.push(m);
        if (m.deliveryAttempt === 1) throw new Error('boom');
        await m.ack();
      });
      await broker.publish(topic, 'x');
      const got = await inbox.waitFor(2);
      assert.deepEqual(got.map((m) => m.deliveryAttempt), [1, 2]);
    });

    it('deadLetter moves the message to the dead-letter destination with its reason', async () => {
      const topic = unique('t');
      const subscription = unique('s');
      await subscribe({ topic, subscription }, async (m) => m.deadLetter('body is not JSON'));
      const dlq = new Inbox();
      const target = broker.deadLetterTarget(subscription);
      await broker.publish(topic, 'not json', { attributes: { userId: 'u9' } });
      await subscribe({ ...target }, async (m) => {
        dlq.push(m);
        await m.ack();
      });
      const [m] = await dlq.waitFor(1);
      assert.equal(m?.body.toString(), 'not json');
      assert.equal(m?.attributes[DEAD_LETTER_REASON], 'body is not JSON');
      assert.equal(m?.attributes.userId, 'u9');
    });

    it('a message delivered more than maxDeliveries times is dead-lettered', async () => {
      const topic = unique('t');
      const subscription = unique('s');
      const inbox = new Inbox();
      await subscribe({ topic, subscription, maxDeliveries: 2, retryDelayMs: 100 }, async (m) => {
        inbox.push(m);
        await m.nack(100);
      });
      await broker.publish(topic, 'poison');
      const dlq = new Inbox();
      const target = broker.deadLetterTarget(subscription);
      await subscribe({ ...target }, async (m) => {
        dlq.push(m);
        await m.ack();
      });
      const [m] = await dlq.waitFor(1, 30_000);
      assert.equal(m?.attributes[DEAD_LETTER_REASON], 'max deliveries (2) exceeded');
      assert.equal(inbox.received.length, 2);
    });

    it('extend keeps a slow message leased past its deadline', async () => {
      const topic = unique('t');
      const subscription = unique('s');
      const inbox = new Inbox();
      await subscribe({ topic, subscription }, async (m) => {
        inbox.push(m);
        const until = Date.now() + engine.ackDeadlineSeconds * 1500;
        while (Date.now() < until) {
          await m.extend(engine.ackDeadlineSeconds * 1000);
          await sleep(engine.ackDeadlineSeconds * 300);
        }
        await m.ack();
      });
      await broker.publish(topic, 'slow');
      await inbox.waitFor(1);
      await sleep(engine.ackDeadlineSeconds * 2000 + 1000);
      assert.equal(inbox.received.length, 1);
    });

    it('a consumer that goes away before acking: the message is redelivered to the next one', async () => {
      const topic = unique('t');
      const subscription = unique('s');
      const first = new Inbox();
      let hang: () => void = () => undefined;
      const dead = await subscribe({ topic, subscription, drainTimeoutMs: 50 }, async (m) => {
        first.push(m);
        await new Promise<void>((resolve) => (hang = resolve)); // never settles: the "killed" worker
      });
      await broker.publish(topic, 'unacked');
      await first.waitFor(1);
      await dead.close();
      const second = new Inbox();
      const other = make();
      await subscribe({ topic, subscription }, async (m) => {
        second.push(m);
        await m.ack();
      }, other);
      const [m] = await second.waitFor(1, engine.ackDeadlineSeconds * 1000 + 20_000);
      assert.equal(m?.body.toString(), 'unacked');
      assert.ok((m?.deliveryAttempt ?? 0) >= 2 || engine.name === 'pubsub');
      hang();
    });

    it('publishing the same dedupe id twice', async () => {
      const topic = unique('t');
      const subscription = unique('s');
      const inbox = new Inbox();
      await subscribe({ topic, subscription }, async (m) => {
        inbox.push(m);
        await m.ack();
      });
      await broker.publish(topic, 'once', { dedupeId: 'same' });
      await broker.publish(topic, 'once', { dedupeId: 'same' });
      await broker.publish(topic, 'marker', { dedupeId: 'other' });
      const expected = engine.dedupesOnPublish ? 2 : 3;
      await inbox.waitFor(expected);
      await sleep(500);
      assert.equal(inbox.received.length, expected);
      // Consumers of engines without publish-side de-duplication drop repeats by this attribute.
      assert.ok(inbox.received.every((m) => m.attributes.dedupeId === 'same' || m.attributes.dedupeId === 'other'));
    });

    it('keeps per-key order where the engine promises it', { skip: !engine.ordered && 'standard SQS queues do not order' }, async () => {
      const topic = unique('t');
      const subscription = unique('s');
      const inbox = new Inbox();
      await subscribe({ topic, subscription, maxInFlight: 1 }, async (m) => {
        inbox.push(m);
        await m.ack();
      });
      for (let i = 0; i < 20; i++) await broker.publish(topic, String(i), { orderingKey: 'user-1' });
      const got = await inbox.waitFor(20);
      assert.deepEqual(got.map((m) => m.body.toString()), Array.from({ length: 20 }, (_, i) => String(i)));
    });

    it('with auto-create off, a missing topic or subscription is a not-found error', async () => {
      const strict = make(false);
      {
        await assert.rejects(strict.publish(unique('missing'), 'x'), (err: unknown) => err instanceof BrokerError && err.code === 'not-found');
        await assert.rejects(
          strict.subscribe({ topic: unique('missing'), subscription: unique('missing') }, async () => undefined),
          (err: unknown) => err instanceof BrokerError && err.code === 'not-found',
        );
      }
    });
  });
}
