/**
 * Events relayed per second from the PostgreSQL outbox to each broker, beside a baseline
 * measured in the same run: a raw publish loop of the same client (same adapter, same number
 * of concurrent publishers, no database), so the ratio is what the outbox costs.
 *
 *   - NATS JetStream: the machine's nats-server (127.0.0.1:4222)
 *   - SNS→SQS: the fauxqs emulator on loopback
 *   - Google Pub/Sub: Google's emulator on loopback (ordering keys on, as the relay uses them)
 *
 * Then end-to-end deliveries per second, PostgreSQL-claim mode (the engine's DeliveryWorker)
 * against JetStream dispatch mode (DispatchPublisher in this process, DispatchWorker in the
 * worker processes), with one and two worker processes. The channel is a no-op that answers
 * "sent" at once, so the figure is the pipeline: claim, hand-over, record.
 *
 *   npm run bench -- brokers
 * HERALD_BENCH_BROKER_EVENTS sets the events per engine (default 20000; Pub/Sub and SQS a quarter);
 * HERALD_BENCH_BROKER_DELIVERIES the deliveries per end-to-end run (default 10000).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createLogger } from '../src/log/index.ts';
import { appendEvents, type NewEvent } from '../src/events/outbox.ts';
import { NatsBroker, PubSubBroker, SnsSqsBroker, type Broker } from '../src/brokers/index.ts';
import { EventRelay, unpublishedCount } from '../src/relay/index.ts';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { Registry } from 'prom-client';
import { createPool } from '../src/db/pool.ts';
import { DeliveryWorker } from '../src/dispatch/worker.ts';
import { engineMetrics } from '../src/dispatch/metrics.ts';
import { DispatchPublisher, DispatchWorker } from '../src/dispatch/broker/index.ts';
import { NotificationService } from '../src/notifications/service.ts';
import type { Channel, Provider } from '../src/channels/types.ts';
import { startPubSubEmulator, startSqsEmulator } from '../test/helpers/broker-emulators.ts';

const log = createLogger('warn');

/** The machine's one-minute load average, printed with every figure (the machine may be shared). */
function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ')[0]!;
}
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

type Mode = 'postgres' | 'jetstream';
const DELIVERIES = Number(process.env.HERALD_BENCH_BROKER_DELIVERIES ?? 10_000);

/** Answers "sent" at once: the benchmark measures the pipeline, not a provider. */
const noop: Channel = { provider: 'inbox', maxAttempts: 10, send: async () => ({ status: 'sent' }), close: async () => undefined };

/** A worker process: runs one worker until SIGTERM. */
async function runWorkerProcess(mode: Mode, url: string, prefix: string): Promise<void> {
  const pool = createPool(url, 10);
  const channels = new Map<Provider, Channel>([['inbox', noop]]);
  let stop: () => Promise<void>;
  if (mode === 'postgres') {
    const w = new DeliveryWorker(pool, channels, log, engineMetrics(new Registry()), { batchSize: 500, concurrency: 1000, leaseSeconds: 30 });
    await w.start();
    stop = () => w.stop();
  } else {
    const broker = new NatsBroker({ url: 'nats://127.0.0.1:4222', autoCreate: true, log });
    const w = new DispatchWorker({ pool, broker, log, channels, prefix, concurrency: 1000 });
    await w.start();
    stop = async () => {
      await w.stop();
      await broker.close();
    };
  }
  process.once('SIGTERM', () => void stop().then(() => pool.end()).then(() => process.exit(0)));
  process.stdout.write('ready\n');
}

function spawnWorker(mode: Mode, url: string, prefix: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, 'worker', mode, url, prefix], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
  });
}

async function endToEnd(mode: Mode, workers: number): Promise<number> {
  const db = await createTestDatabase();
  const prefix = `${RUN}.e2e${mode}${workers}`;
  const broker = new NatsBroker({ url: 'nats://127.0.0.1:4222', autoCreate: true, log });
  const publisher = mode === 'jetstream' ? new DispatchPublisher({ pool: db.pool, broker, log, providers: ['inbox'], prefix }) : undefined;
  const children: ChildProcess[] = [];
  try {
    await publisher?.start();
    for (let i = 0; i < workers; i++) children.push(await spawnWorker(mode, db.url, prefix));
    // All due at the same instant: created in one transaction, visible together at commit.
    const inputs = Array.from({ length: DELIVERIES }, (_, i) => ({ to: { userId: `user-${i % USERS}` }, title: `n${i}`, channels: ['inbox' as const] }));
    await new NotificationService(db.pool).createMany(inputs, { source: 'bench' });
    const started = performance.now();
    for (;;) {
      const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM deliveries WHERE status = 'sent'`);
      if ((rows[0]?.n ?? 0) >= DELIVERIES) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    return DELIVERIES / ((performance.now() - started) / 1000);
  } finally {
    for (const c of children) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    }
    await publisher?.stop();
    await broker.close();
    await db.close();
  }
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

if (process.argv[2] === 'worker') {
  await runWorkerProcess(process.argv[3] as Mode, process.argv[4] ?? '', process.argv[5] ?? '');
} else {
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
  console.log(`SUMMARY ${JSON.stringify({ figure: `events relayed from the outbox to ${r.engine}, per second (load ${loadAverage()})`, value: Math.round(r.relay), baseline: 'raw publish loop, same client', baselineValue: Math.round(r.raw), ratio: Number((r.relay / r.raw).toFixed(2)) })}`);
}

const deliveryRows: Array<{ mode: Mode; workers: number; perSecond: number }> = [];
for (const mode of ['postgres', 'jetstream'] as const) {
  for (const workers of [1, 2]) deliveryRows.push({ mode, workers, perSecond: await endToEnd(mode, workers) });
}
{
  const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
  const jsm = await jetstreamManager(nc);
  for await (const s of jsm.streams.list()) if (s.config.name.includes(RUN)) await jsm.streams.delete(s.config.name);
  await nc.close();
}
const base = deliveryRows.find((r) => r.mode === 'postgres' && r.workers === 1)?.perSecond ?? 1;
console.log(`\nend-to-end deliveries per second, ${DELIVERIES} due at once, no-op channel (baseline: PostgreSQL-claim mode, 1 worker process)`);
console.log('mode        workers   deliveries/s   vs baseline');
for (const r of deliveryRows) {
  console.log(`${r.mode.padEnd(10)}  ${String(r.workers).padStart(7)}   ${r.perSecond.toFixed(0).padStart(12)}   ${(r.perSecond / base).toFixed(2).padStart(11)}`);
  if (r.mode === 'postgres' && r.workers === 1) continue;
  console.log(`SUMMARY ${JSON.stringify({ figure: `${r.mode} dispatch, ${r.workers} worker process(es), no-op channel: deliveries/s (load ${loadAverage()})`, value: Math.round(r.perSecond), baseline: 'PostgreSQL claims, 1 worker process', baselineValue: Math.round(base), ratio: Number((r.perSecond / base).toFixed(2)) })}`);
}
}
