/**
 * Events relayed per second from the PostgreSQL outbox to each broker, beside a baseline
 * measured in the same run: a raw publish loop of the same client (same adapter, same number
 * of concurrent publishers, no database), so the ratio is what the outbox costs.
 *
 *   - NATS JetStream: the machine's nats-server (127.0.0.1:4222)
 *   - SNS→SQS: the fauxqs emulator on loopback
 *   - Google Pub/Sub: Google's emulator on loopback (ordering keys on, as the relay uses them)
 *
 *   npm run bench -- brokers
 * HERALD_BENCH_BROKER_EVENTS sets the events per engine (default 20000; Pub/Sub and SQS a quarter).
 */
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createLogger } from '../src/log/index.ts';
import { appendEvents, type NewEvent } from '../src/events/outbox.ts';
import { NatsBroker, PubSubBroker, SnsSqsBroker, type Broker } from '../src/brokers/index.ts';
import { EventRelay, unpublishedCount } from '../src/relay/index.ts';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { startPubSubEmulator, startSqsEmulator } from '../test/helpers/broker-emulators.ts';

const log = createLogger('warn');
const EVENTS = Number(process.env.HERALD_BENCH_BROKER_EVENTS ?? 20_000);
const USERS = 1000;
const CONCURRENCY = 64; // the relay's default number of users published at once
const RUN = `hb${randomBytes(3).toString('hex')}`;

function events(n: number): NewEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    userId: `user-${i % USERS}`,
    type: 'notification:sent',
    itemType: 'notification',
    itemId: `n${i}`,
    data: { channel: 'push', attempt: 1 },
  }));
}

/** The baseline: publish n messages shaped like relayed events, CONCURRENCY at a time. */
async function rawPublish(broker: Broker, topic: string, n: number): Promise<number> {
  const body = JSON.stringify({ id: '1', type: 'notification:sent', itemType: 'notification', itemId: 'n1', userId: 'user-1', data: { channel: 'push', attempt: 1 }, createdAt: new Date().toISOString() });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < n; i = next++) {
        await broker.publish(topic, body, {
          attributes: { eventType: 'notification:sent', eventItemType: 'notification', userId: `user-${i % USERS}` },
          dedupeId: `raw-${i}`,
          orderingKey: `user-${i % USERS}`,
        });
      }
    }),
  );
  return n / ((performance.now() - started) / 1000);
}

async function relayed(db: TestDatabase, broker: Broker, topic: string, n: number): Promise<number> {
  await db.pool.query('TRUNCATE events');
  const all = events(n);
  for (let i = 0; i < all.length; i += 5000) await appendEvents(db.pool, all.slice(i, i + 5000));
  const relay = new EventRelay({ pool: db.pool, broker, topic, log, concurrency: CONCURRENCY });
  const started = performance.now();
  await relay.start();
  while ((await unpublishedCount(db.pool)) > 0) await new Promise((r) => setTimeout(r, 20));
  const seconds = (performance.now() - started) / 1000;
  await relay.stop();
  return n / seconds;
}

interface Row {
  engine: string;
  events: number;
  relay: number;
  raw: number;
}

async function measure(engine: string, broker: Broker, n: number): Promise<Row> {
  const db = await createTestDatabase();
  try {
    const topic = `${RUN}-${engine}`;
    await broker.ensureTopic(topic);
    await rawPublish(broker, topic, Math.min(500, n)); // warm-up: connections, topic caches
    const raw = await rawPublish(broker, topic, n);
    const relay = await relayed(db, broker, topic, n);
    return { engine, events: n, relay, raw };
  } finally {
    await broker.close();
    await db.close();
  }
}

const rows: Row[] = [];
rows.push(await measure('nats', new NatsBroker({ url: 'nats://127.0.0.1:4222', autoCreate: true, log }), EVENTS));
{
  const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
  const jsm = await jetstreamManager(nc);
  for await (const s of jsm.streams.list()) if (s.config.name.includes(RUN)) await jsm.streams.delete(s.config.name);
  await nc.close();
}
{
  const sqs = await startSqsEmulator();
  try {
    rows.push(await measure('sns-sqs', new SnsSqsBroker({ autoCreate: true, log, endpoint: sqs.endpoint, region: sqs.region, credentials: sqs.credentials }), Math.ceil(EVENTS / 4)));
  } finally {
    await sqs.stop();
  }
}
{
  const emulator = await startPubSubEmulator();
  try {
    rows.push(await measure('pubsub', new PubSubBroker({ projectId: 'herald-bench', emulatorHost: emulator.host, autoCreate: true, log }), Math.ceil(EVENTS / 4)));
  } finally {
    await emulator.stop();
  }
}

console.log('\nevents relayed from the PostgreSQL outbox per second (baseline: raw publish loop of the same client, same run)');
console.log('engine     events   relay ev/s   raw publish/s   relay/raw');
for (const r of rows) {
  console.log(`${r.engine.padEnd(10)} ${String(r.events).padStart(6)}   ${r.relay.toFixed(0).padStart(10)}   ${r.raw.toFixed(0).padStart(13)}   ${(r.relay / r.raw).toFixed(2).padStart(9)}`);
}
