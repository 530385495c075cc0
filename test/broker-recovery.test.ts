/**
 * A broker outage and its end, with the real engines stopped and started: Google's Pub/Sub
 * emulator (killed and restarted), fauxqs (SNS/SQS, stopped and served again from its store) and
 * a private nats-server (kill -9, then restarted on its store). Events written while the broker is
 * away wait in the outbox; once it is back, the relay (with its default settings, as a deployment
 * runs it) publishes the backlog and herald's own subscriber receives it within a few seconds —
 * not after a backoff that grew during the outage. The three outages run side by side.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PubSub } from '@google-cloud/pubsub';
import { createLogger } from '../src/log/index.ts';
import { appendEvents } from '../src/events/outbox.ts';
import { NatsBroker, PubSubBroker, SnsSqsBroker, type Broker } from '../src/brokers/index.ts';
import { EventRelay } from '../src/relay/index.ts';
import { createTestDatabase } from './helpers/db.ts';
import { startNatsServer, startPubSubEmulator, startSqsEmulator } from './helpers/broker-emulators.ts';

process.env.METADATA_SERVER_DETECTION = 'none'; // the emulator needs no Google credentials
const log = createLogger(process.env.HERALD_LOG_LEVEL ?? 'silent');
const RUN = `rec${randomBytes(3).toString('hex')}`;
/**
 * "Within a few seconds of the broker's return": a bound well above the second or so recovery
 * takes, well below what a backoff grown during the outage (or a client's own reconnect and
 * retry backoff, up to a minute) costs.
 */
const RECOVERY_DEADLINE_MS = 5_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outage {
  /**
   * How long the broker stays away: long enough for a backoff that grows with each failure to
   * outlast the deadline (a NATS publish fails only after its 5 s timeout, so its backoff grows
   * more slowly). The Pub/Sub emulator's restart adds its own seconds.
   */
  readonly outageMs: number;
  /** Two brokers on the engine: the relay's (publishing) and a reader's, as two processes would have. */
  make(): Broker;
  down(): Promise<void>;
  /** Back: listening, and holding what a durable broker would have kept. */
  up(): Promise<void>;
  close(): Promise<void>;
}

async function outageRun(t: TestContext, name: string, outage: Outage): Promise<void> {
  const db = await createTestDatabase(4);
  const publisher = outage.make();
  const reader = outage.make();
  const relay = new EventRelay({ pool: db.pool, broker: publisher, topic: `${RUN}-${name}-events`, log });
  const got: Array<{ id: number; at: number }> = [];
  try {
    const sub = await reader.subscribe({ topic: `${RUN}-${name}-events`, subscription: `${RUN}-${name}-sub` }, async (m) => {
      got.push({ id: Number((JSON.parse(m.body.toString()) as { id: string }).id), at: Date.now() });
      await m.ack();
    });
    await relay.start();
    await appendEvents(db.pool, [{ userId: 'ada', type: 'reminder:updated', itemType: 'reminder', itemId: 'r1' }]);
    await waitFor(() => got.length > 0, 30_000, 'the first event before the outage');
    const before = Math.max(...got.map((g) => g.id));

    await outage.down();
    const downAt = Date.now();
    while (Date.now() - downAt < outage.outageMs) {
      await appendEvents(db.pool, ['ada', 'grace'].map((userId) => ({ userId, type: 'reminder:updated', itemType: 'reminder', itemId: 'r1' })));
      await sleep(500);
    }
    await outage.up();
    const backAt = Date.now();
    await waitFor(() => got.some((g) => g.id > before), RECOVERY_DEADLINE_MS, `the backlog within ${RECOVERY_DEADLINE_MS / 1000} s of ${name}'s return`);
    const first = got.find((g) => g.id > before)!;
    t.diagnostic(`${name}: down ${backAt - downAt} ms; first backlogged event ${first.at - backAt} ms after it was back`);
    await relay.stop();
    await sub.close();
  } finally {
    await relay.stop().catch(() => undefined);
    await publisher.close().catch(() => undefined);
    await reader.close().catch(() => undefined);
    await outage.close().catch(() => undefined);
    await db.close();
  }
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('broker outages end in a prompt recovery', { concurrency: true }, () => {
  it('Pub/Sub emulator killed and restarted: the backlog arrives within seconds', async (t) => {
    const emulator = await startPubSubEmulator();
    const admin = new PubSub({ projectId: 'herald-test', apiEndpoint: emulator.host, emulatorMode: true });
    await outageRun(t, 'pubsub', {
      outageMs: 9_000,
      make: () => new PubSubBroker({ projectId: 'herald-test', emulatorHost: emulator.host, autoCreate: true, log }),
      down: () => emulator.kill(),
      async up() {
        await emulator.restart();
        // The emulator forgets everything on restart; Pub/Sub itself keeps topics and
        // subscriptions through an outage, so put them back as they were.
        const topic = admin.topic(`${RUN}-pubsub-events`);
        await topic.create().catch((err: { code?: number }) => assert.equal(err.code, 6));
        await topic.createSubscription(`${RUN}-pubsub-sub`, { enableMessageOrdering: true }).catch((err: { code?: number }) => assert.equal(err.code, 6));
      },
      async close() {
        await admin.close();
        await emulator.stop();
      },
    });
  });

  it('fauxqs (SNS/SQS) stopped and served again: the backlog arrives within seconds', async (t) => {
    const sqs = await startSqsEmulator(0, { persistent: true });
    await outageRun(t, 'sqs', {
      outageMs: 9_000,
      make: () => new SnsSqsBroker({ autoCreate: true, log, endpoint: sqs.endpoint, region: sqs.region, credentials: sqs.credentials }),
      down: () => sqs.halt(),
      up: () => sqs.restart(),
      close: () => sqs.stop(),
    });
  });

  it('nats-server killed and restarted: the backlog arrives within seconds', async (t) => {
    const server = await startNatsServer();
    await outageRun(t, 'nats', {
      outageMs: 20_000,
      make: () => new NatsBroker({ url: server.url, autoCreate: true, log }),
      down: () => server.stop(true),
      up: () => server.restart(),
      close: () => server.destroy(),
    });
  });
});
