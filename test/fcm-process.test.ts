/**
 * A real `herald worker` process sends FCM and Web Push: the default app's service account comes
 * from HERALD_FCM_SERVICE_ACCOUNT_FILE with HERALD_FCM_URL pointing at the fake, its VAPID keys
 * from HERALD_VAPID_*, and trust in the fakes' test CAs from NODE_EXTRA_CA_CERTS — the channel
 * factories as `herald start` builds them, no test-only options.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { eventually, spawnHerald } from './helpers/engine.ts';
import { NotificationService } from '../src/notifications/service.ts';
import { generateVapidKeys } from '../src/channels/webpush/index.ts';
import { FakeFcmServer } from './fakes/fcm-server.ts';
import { FakeWebPushServer } from './fakes/webpush-server.ts';

let db: TestDatabase;
let dir: string;
let fcm: FakeFcmServer;
let push: FakeWebPushServer;
let child: ChildProcess | undefined;

before(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), 'herald-push-process-'));
  fcm = await new FakeFcmServer().start();
  push = await new FakeWebPushServer().start();
});

after(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
  }
  await fcm.close();
  await push.close();
  await db.close();
  await rm(dir, { recursive: true, force: true });
});

test('herald worker delivers to FCM and a Web Push service, trusting NODE_EXTRA_CA_CERTS', async () => {
  const vapid = generateVapidKeys();
  const subscription = push.subscribe(vapid.publicKey);
  await db.pool.query(`INSERT INTO users (id) VALUES ('pat')`);
  await db.pool.query(
    `INSERT INTO devices (id, user_id, platform, token, subscription) VALUES ('dev-android', 'pat', 'android', 'tok-process', NULL), ('dev-web', 'pat', 'web', $1, $2)`,
    [subscription.endpoint, JSON.stringify({ endpoint: subscription.endpoint, keys: subscription.keys })],
  );
  const created = await new NotificationService(db.pool).create({ to: { userId: 'pat' }, channels: ['push'], title: 'From a process', body: 'It works' }, { source: 'test' });

  const accountFile = path.join(dir, 'service-account.json');
  await writeFile(accountFile, JSON.stringify(fcm.account));
  const caFile = path.join(dir, 'ca.pem');
  await writeFile(caFile, fcm.certificate.ca + push.certificate.ca);

  let stderr = '';
  child = spawnHerald(['worker'], {
    HERALD_DATABASE_URL: db.url,
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_FCM_SERVICE_ACCOUNT_FILE: accountFile,
    HERALD_FCM_URL: fcm.url,
    HERALD_VAPID_PUBLIC_KEY: vapid.publicKey,
    HERALD_VAPID_PRIVATE_KEY: vapid.privateKey,
    HERALD_VAPID_SUBJECT: 'mailto:ops@example.com',
    HERALD_WORKER_CHANNELS: 'fcm,webpush',
    HERALD_DATABASE_POOL_SIZE: '4',
    NODE_EXTRA_CA_CERTS: caFile,
  });
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));

  const rows = await eventually(async () => {
    const { rows } = await db.pool.query<{ provider: string; status: string; provider_id: string | null; last_error: string | null }>(
      `SELECT provider, status, provider_id, last_error FROM deliveries WHERE notification_id = $1 ORDER BY provider`, [created.id]);
    return rows.length === 2 && rows.every((r) => r.status !== 'pending' && r.status !== 'sending') ? rows : undefined;
  }, 30_000, 'both push deliveries to settle').catch((error: unknown) => {
    throw new Error(`${String(error)}\nworker stderr:\n${stderr}`);
  });
  assert.deepEqual(rows.map((r) => [r.provider, r.status]), [['fcm', 'sent'], ['webpush', 'sent']], JSON.stringify(rows));
  assert.match(rows[0]!.provider_id!, /^projects\/herald-test\/messages\//);
  assert.deepEqual(fcm.received.map((r) => r.message.token), ['tok-process']);
  assert.equal(fcm.tokenRequests, 1);
  assert.equal(JSON.parse(push.received.find((r) => r.subscriptionId === subscription.id)!.payload).title, 'From a process');

  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child!.once('exit', (c) => resolve(c)));
  assert.equal(code, 0, `the worker shuts down cleanly: ${stderr}`);
});
