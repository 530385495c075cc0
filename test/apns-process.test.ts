/**
 * The real `herald start` process as seed 000 ran: HERALD_APNS_* for the default app (the fake
 * APNs trusted through NODE_EXTRA_CA_CERTS), HERALD_PUBSUB_PROJECT + PUBSUB_EMULATOR_HOST for the
 * ingest. A Pub/Sub message comes out at the fake as an APNs push; deleting the subscription
 * turns /healthz into 503 (the liveness probe); `herald ingest-apns` alone names a missing variable.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { PubSub } from '@google-cloud/pubsub';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { ensureBuilt, freePort, runHerald, spawnHerald, tempDir, waitFor200, type HeraldProcess } from './helpers/herald-process.ts';
import { startPubSubEmulator, type PubSubEmulator } from './helpers/pubsub-emulator.ts';
import { createTestPki, startFakeApns, type FakeApns, type TestPki } from './fakes/apns-server.ts';

process.env.METADATA_SERVER_DETECTION = 'none'; // the emulator needs no Google credentials
const BUNDLE = 'com.example.seed000';
const PROJECT = 'herald-process';
const suffix = randomBytes(3).toString('hex');
const TOPIC = `notifications-${suffix}`;
const SUBSCRIPTION = `notifications-apn-${suffix}`;

let db: TestDatabase;
let pki: TestPki;
let fake: FakeApns;
let emulator: PubSubEmulator;
let client: PubSub;
let herald: HeraldProcess;
let base: string;
let dataDir: string;
let env: Record<string, string>;
const apiKey = `hk_${randomBytes(24).toString('base64url')}`;

before(async () => {
  await ensureBuilt();
  [db, emulator] = await Promise.all([createTestDatabase(2), startPubSubEmulator()]);
  pki = createTestPki();
  fake = await startFakeApns({ pki, auth: 'token', bundleId: BUNDLE });
  client = new PubSub({ projectId: PROJECT, apiEndpoint: emulator.host, emulatorMode: true });
  dataDir = await tempDir('herald-apns-process-');
  const port = await freePort();
  env = {
    HERALD_DATABASE_URL: db.url,
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_API_KEY: apiKey,
    HERALD_PORT: String(port),
    HERALD_HOST: '127.0.0.1',
    HERALD_DATA_DIR: dataDir,
    HERALD_APNS_KEY_FILE: path.join(pki.dir, 'token.p8'),
    HERALD_APNS_KEY_ID: 'KEYID12345',
    HERALD_APNS_TEAM_ID: 'TEAMID1234',
    HERALD_APNS_BUNDLE_ID: BUNDLE,
    HERALD_APNS_URL: fake.origin,
    NODE_EXTRA_CA_CERTS: path.join(pki.dir, 'ca.crt'),
    HERALD_PUBSUB_PROJECT: PROJECT,
    PUBSUB_EMULATOR_HOST: emulator.host,
    METADATA_SERVER_DETECTION: 'none',
    HERALD_INGEST_PUBSUB_TOPIC: TOPIC,
    HERALD_INGEST_PUBSUB_SUBSCRIPTION: SUBSCRIPTION,
  };
  herald = spawnHerald(['start'], env);
  base = `http://127.0.0.1:${port}`;
  await waitFor200(`${base}/readyz`, herald);
});

after(async () => {
  if (herald.child.exitCode === null) {
    herald.child.kill('SIGTERM');
    await herald.exited;
  }
  await client.close();
  await Promise.all([db.close(), emulator.stop(), fake.close()]);
  pki.cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${herald.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a seed-000 message published to Pub/Sub arrives at APNs', async () => {
  const token = randomBytes(32).toString('hex');
  const body = { aps: { alert: { title: 'Deploy', body: 'done' }, badge: 1 }, build: 42 };
  // herald creates topic and subscription as its ingest role starts (after /readyz answers).
  await eventually('the subscription herald creates', async () => (await client.subscription(SUBSCRIPTION).exists())[0]);
  await client.topic(TOPIC).publishMessage({ json: body, attributes: { to: token, identifier: 'deploy-42' } });
  const got = await eventually('the push at the fake APNs', () => fake.received.find((r) => r.token === token));
  assert.deepEqual(got.payload, body);
  assert.equal(got.headers['apns-collapse-id'], 'deploy-42');
  assert.equal(got.headers['apns-topic'], BUNDLE);
  assert.deepEqual(fake.violations, []);
});

test('/healthz answers 503 once the subscription is gone', async () => {
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  await client.subscription(SUBSCRIPTION).delete();
  const res = await eventually('/healthz to fail', async () => {
    const r = await fetch(`${base}/healthz`);
    const json = (await r.json()) as { problems?: string[] };
    return r.status === 503 ? json : undefined;
  });
  assert.match(res.problems!.join(' '), new RegExp(`${SUBSCRIPTION} no longer exists`));
});

test('`herald ingest-apns` without HERALD_PUBSUB_PROJECT stops, naming the variable', async () => {
  const { HERALD_PUBSUB_PROJECT: _drop, HERALD_PORT: _port, ...rest } = env;
  const { code, stdout, stderr } = await runHerald(['ingest-apns'], rest);
  assert.notEqual(code, 0);
  assert.match(stdout + stderr, /HERALD_PUBSUB_PROJECT/);
});
