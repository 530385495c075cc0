/**
 * Broker dispatch (scale-out mode) on the NATS server: due deliveries claimed from PostgreSQL,
 * carried by JetStream to channel workers, verdicts recorded back in PostgreSQL before the ack.
 */
import { describe, it, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createLogger } from '../src/log/index.ts';
import { NatsBroker } from '../src/brokers/index.ts';
import { DispatchPublisher, DispatchWorker } from '../src/dispatch/broker/index.ts';
import { createInboxChannel } from '../src/channels/inbox/index.ts';
import type { Channel, Provider } from '../src/channels/types.ts';
import { buildServices, type Services } from '../src/runtime/services.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { testContext } from './helpers/app.ts';

const log = createLogger('silent');
const NATS_URL = 'nats://127.0.0.1:4222';
const RUN = `hd${randomBytes(3).toString('hex')}`;
let seq = 0;
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

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('broker dispatch over JetStream', () => {
  let db: TestDatabase;
  let services: Services;
  before(async () => {
    db = await createTestDatabase();
    services = buildServices(await testContext(db));
  });
  after(async () => {
    const nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    for await (const s of jsm.streams.list()) if (s.config.name.includes(RUN)) await jsm.streams.delete(s.config.name);
    await nc.close();
    await db.close();
  });

  const broker = () => new NatsBroker({ url: NATS_URL, autoCreate: true, log });
  const inbox = (): Map<Provider, Channel> => new Map([['inbox', createInboxChannel(db.pool)]]);
  const deliveriesOf = async (user: string) =>
    (
      await db.pool.query<{ status: string; attempts: number; last_error: string | null; items: number }>(
        `SELECT d.status, d.attempts, d.last_error, (SELECT count(*)::int FROM inbox_items i WHERE i.delivery_id = d.id) AS items
           FROM deliveries d WHERE d.user_id = $1 ORDER BY d.id`,
        [user],
      )
    ).rows;

  it('delivers every due delivery once and records it sent', async (t) => {
    const defer = deferrer(t);
    const prefix = `${RUN}.d${++seq}`;
    const b = broker();
    defer(() => b.close());
    const publisher = new DispatchPublisher({ pool: db.pool, broker: b, log, providers: ['inbox'], prefix });
    const worker = new DispatchWorker({ pool: db.pool, broker: b, log, channels: inbox(), prefix });
    await worker.start();
    await publisher.start();
    defer(() => worker.stop());
    defer(() => publisher.stop());
    const user = `${RUN}-u${seq}`;
    for (let i = 0; i < 50; i++) await services.notifications.create({ to: { userId: user }, title: `n${i}`, channels: ['inbox'] }, { source: 'test' });
    await waitUntil('50 sent', async () => (await deliveriesOf(user)).filter((d) => d.status === 'sent').length === 50);
    const rows = await deliveriesOf(user);
    assert.equal(rows.length, 50);
    assert.ok(rows.every((d) => d.items === 1 && d.attempts === 1));
  });

  it('a worker killed after sending but before its ack: redelivered to another worker, recorded once', async (t) => {
    const defer = deferrer(t);
    const prefix = `${RUN}.d${++seq}`;
    const user = `${RUN}-u${seq}`;
    const b = broker();
    defer(() => b.close());
    const publisher = new DispatchPublisher({ pool: db.pool, broker: b, log, providers: ['inbox'], prefix });
    await publisher.start();
    defer(() => publisher.stop());
    // Worker A sends, then "dies": its process (and connection) goes away before the ack.
    const real = createInboxChannel(db.pool);
    let release: () => void = () => undefined;
    let sentByA = 0;
    const dying: Channel = {
      provider: 'inbox',
      maxAttempts: 10,
      async send(job) {
        const verdict = await real.send(job);
        sentByA++;
        await new Promise<void>((resolve) => (release = resolve));
        return verdict;
      },
      close: async () => undefined,
    };
    const brokerA = broker();
    const workerA = new DispatchWorker({ pool: db.pool, broker: brokerA, log, channels: new Map([['inbox', dying]]), prefix, ackWaitSeconds: 2, backoffMs: [500], drainTimeoutMs: 50 });
    await workerA.start();
    await services.notifications.create({ to: { userId: user }, title: 'once', channels: ['inbox'] }, { source: 'test' });
    await waitUntil('worker A to send', async () => sentByA === 1);
    await workerA.stop();
    await brokerA.close();
    const workerB = new DispatchWorker({ pool: db.pool, broker: b, log, channels: inbox(), prefix, ackWaitSeconds: 2, backoffMs: [500] });
    await workerB.start();
    defer(() => workerB.stop());
    await waitUntil('the delivery recorded', async () => (await deliveriesOf(user))[0]?.status === 'sent');
    release();
    await sleep(200);
    const [row] = await deliveriesOf(user);
    assert.equal(row?.items, 1, 'one inbox item');
    assert.equal(row?.attempts, 1, 'claimed and published once');
  });

  it('a message redelivered more than MaxDeliver times turns its delivery failed', async (t) => {
    const defer = deferrer(t);
    const prefix = `${RUN}.d${++seq}`;
    const user = `${RUN}-u${seq}`;
    const b = broker();
    defer(() => b.close());
    const publisher = new DispatchPublisher({ pool: db.pool, broker: b, log, providers: ['inbox'], prefix });
    await publisher.start();
    defer(() => publisher.stop());
    const hangs: Array<() => void> = [];
    const stuck: Channel = {
      provider: 'inbox',
      maxAttempts: 10,
      send: () => new Promise((resolve) => hangs.push(() => resolve({ status: 'retry', error: 'stuck' }))),
      close: async () => undefined,
    };
    await services.notifications.create({ to: { userId: user }, title: 'doomed', channels: ['inbox'] }, { source: 'test' });
    // Two workers die on the message in turn (MaxDeliver 2); the third delivery records the failure.
    for (let i = 0; i < 2; i++) {
      const bx = broker();
      const w = new DispatchWorker({ pool: db.pool, broker: bx, log, channels: new Map([['inbox', stuck]]), prefix, ackWaitSeconds: 1, maxDeliver: 2, backoffMs: [300, 300, 300], drainTimeoutMs: 50 });
      await w.start();
      await waitUntil(`worker ${i} to take the message`, async () => hangs.length === i + 1);
      await w.stop();
      await bx.close();
    }
    const last = new DispatchWorker({ pool: db.pool, broker: b, log, channels: inbox(), prefix, ackWaitSeconds: 1, maxDeliver: 2, backoffMs: [300, 300, 300] });
    await last.start();
    defer(() => last.stop());
    await waitUntil('the delivery failed', async () => (await deliveriesOf(user))[0]?.status === 'failed');
    for (const h of hangs) h();
    const [row] = await deliveriesOf(user);
    assert.match(row?.last_error ?? '', /broker gave up after 2 deliveries/);
    assert.equal(row?.items, 0);
  });
});
