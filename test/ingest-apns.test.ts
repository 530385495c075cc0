import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PubSub } from '@google-cloud/pubsub';
import { Registry } from 'prom-client';
import { ApnsIngest, decide } from '../src/ingest-apns/index.ts';
import { Health } from '../src/health/index.ts';
import { HeraldError } from '../src/errors/index.ts';
import { createLogger } from '../src/log/index.ts';
import type { CreateOptions, CreatedNotification, NotificationCreator, NotificationInput } from '../src/notifications/types.ts';
import { startPubSubEmulator, type PubSubEmulator } from './helpers/pubsub-emulator.ts';

/** Seed 000's Pub/Sub worker against Google's emulator, with a recording NotificationCreator. */

let emulator: PubSubEmulator;
let client: PubSub;
const PROJECT = 'herald-test';

// The emulator needs no Google credentials; keep the auth library off the metadata server.
process.env.METADATA_SERVER_DETECTION = 'none';

before(async () => {
  emulator = await startPubSubEmulator();
  client = new PubSub({ projectId: PROJECT, apiEndpoint: emulator.host, emulatorMode: true });
});

after(async () => {
  await client.close();
  await emulator.stop();
});

class RecordingCreator implements NotificationCreator {
  readonly calls: Array<{ input: NotificationInput; options: CreateOptions }> = [];
  readonly seen = new Set<string>();
  /** Throw this for the next calls (then carry on). */
  failures: unknown[] = [];
  /** Called with each call; resolve it to let create finish. */
  gate: Promise<void> | undefined;
  async create(input: NotificationInput, options: CreateOptions): Promise<CreatedNotification> {
    this.calls.push({ input, options });
    if (this.gate) await this.gate;
    const failure = this.failures.shift();
    if (failure) throw failure;
    const created = !this.seen.has(options.dedupeKey!);
    this.seen.add(options.dedupeKey!);
    return { id: crypto.randomUUID(), status: 'pending', sendAt: new Date().toISOString(), created };
  }
}

function names() {
  const suffix = randomBytes(4).toString('hex');
  return { topic: `notifications-${suffix}`, subscription: `notifications-apn-${suffix}` };
}

async function startIngest(creator: NotificationCreator, n: { topic: string; subscription: string }, maxAgeSeconds = 600) {
  const health = new Health();
  const ingest = new ApnsIngest({
    projectId: PROJECT,
    emulatorHost: emulator.host,
    ...n,
    maxAgeSeconds,
    autoCreate: true,
    healthCacheMs: 0,
    log: createLogger('silent'),
    metrics: new Registry(),
    health,
    notifications: creator,
  });
  await ingest.start();
  return { ingest, health };
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const TOKEN = 'a'.repeat(64);
const PAYLOAD = { aps: { alert: { title: 'Hello', body: 'World' }, badge: 1, sound: 'default', category: 'C', 'content-available': 1 }, orderId: 7 };

test('creates topic and subscription, and turns seed-000 messages into notifications', async () => {
  const n = names();
  const creator = new RecordingCreator();
  const { ingest } = await startIngest(creator, n);
  try {
    const [subExists] = await client.subscription(n.subscription).exists();
    assert.ok(subExists, 'subscription created');
    const messageId = await client.topic(n.topic).publishMessage({ json: PAYLOAD, attributes: { to: TOKEN, identifier: 'order-7' } });
    await until('the notification', () => creator.calls.length === 1);
    const { input, options } = creator.calls[0]!;
    assert.deepEqual(input.to, { device: { platform: 'ios', token: TOKEN } });
    assert.deepEqual(input.apns?.payload, PAYLOAD);
    assert.equal(input.collapseId, 'order-7');
    assert.deepEqual(input.channels, ['push']);
    assert.equal(options.source, 'ingest-apns');
    assert.equal(options.dedupeKey, `pubsub:${messageId}`);
    const ttl = options.expiresAt!.getTime() - Date.now();
    assert.ok(ttl > 590_000 && ttl <= 600_000, `expires at publish time + 600 s (${ttl} ms left)`);
  } finally {
    await ingest.stop();
  }
});

test('acks only after create resolved: a failed create is redelivered, then recorded once', async () => {
  const n = names();
  const creator = new RecordingCreator();
  creator.failures = [new Error('database unavailable')];
  const { ingest } = await startIngest(creator, n);
  try {
    const id = await client.topic(n.topic).publishMessage({ json: PAYLOAD, attributes: { to: TOKEN } });
    await until('the redelivery', () => creator.calls.length >= 2, 60_000);
    assert.deepEqual(creator.calls.map((c) => c.options.dedupeKey).slice(0, 2), [`pubsub:${id}`, `pubsub:${id}`]);
    // Acked now: no third delivery.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(creator.calls.length, 2);
  } finally {
    await ingest.stop();
  }
});

test('stop waits for a message being recorded and acks it', async () => {
  const n = names();
  const creator = new RecordingCreator();
  let release!: () => void;
  creator.gate = new Promise((r) => (release = r));
  const first = await startIngest(creator, n);
  await client.topic(n.topic).publishMessage({ json: PAYLOAD, attributes: { to: TOKEN } });
  await until('the message', () => creator.calls.length === 1);
  const stopped = first.ingest.stop();
  release();
  await stopped;
  // A new consumer on the same subscription gets nothing: the message was acked.
  creator.gate = undefined;
  const second = await startIngest(creator, n);
  await new Promise((r) => setTimeout(r, 1500));
  await second.ingest.stop();
  assert.equal(creator.calls.length, 1);
});

test('messages older than the maximum age, or malformed, are acked and dropped', async () => {
  const n = names();
  const creator = new RecordingCreator();
  // Create the subscription first, publish, and start consuming only after the message aged.
  const warmup = await startIngest(creator, n, 1);
  await warmup.ingest.stop();
  await client.topic(n.topic).publishMessage({ json: PAYLOAD, attributes: { to: TOKEN } });
  await new Promise((r) => setTimeout(r, 1500));
  const { ingest } = await startIngest(creator, n, 1);
  try {
    await client.topic(n.topic).publishMessage({ data: Buffer.from('not json'), attributes: { to: TOKEN } });
    await client.topic(n.topic).publishMessage({ json: PAYLOAD, attributes: {} });
    creator.failures = [new HeraldError('VALIDATION_FAILED', 'bad token')];
    await client.topic(n.topic).publishMessage({ json: PAYLOAD, attributes: { to: 'zz' } });
    await new Promise((r) => setTimeout(r, 2500));
    // Only the last reached create (and was refused as invalid); nothing is redelivered.
    assert.equal(creator.calls.length, 1);
    assert.equal(creator.calls[0]!.input.to && 'device' in creator.calls[0]!.input.to ? creator.calls[0]!.input.to.device.token : '', 'zz');
  } finally {
    await ingest.stop();
  }
});

test('/healthz reports the subscription once it no longer exists', async () => {
  const n = names();
  const { ingest, health } = await startIngest(new RecordingCreator(), n);
  try {
    assert.deepEqual(await health.problems(), []);
    await client.subscription(n.subscription).delete();
    const problems = await health.problems();
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, new RegExp(`${n.subscription} no longer exists`));
  } finally {
    await ingest.stop();
  }
  assert.deepEqual(await health.problems(), [], 'the check leaves with the role');
});

test('decide(): expiry by publish time, seed-000 attributes', () => {
  const publishTime = new Date('2026-01-01T00:00:00Z');
  const msg = { id: '42', data: Buffer.from(JSON.stringify(PAYLOAD)), attributes: { to: TOKEN, identifier: 'x' }, publishTime };
  const fresh = decide(msg, 600, publishTime.getTime() + 599_000);
  assert.equal(fresh.kind, 'create');
  assert.equal(fresh.kind === 'create' && fresh.options.expiresAt?.toISOString(), '2026-01-01T00:10:00.000Z');
  const stale = decide(msg, 600, publishTime.getTime() + 600_000);
  assert.deepEqual(stale.kind === 'drop' && stale.outcome, 'expired');
});
