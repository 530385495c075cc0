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
import { freePort, waitFor200 } from './helpers/herald-process.ts';
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

test('registrations checked with validateTokens share one sender: one OAuth exchange, reused connections, HERALD_FCM_URL for every app', async () => {
  const caFile = path.join(dir, 'fcm-ca.pem');
  await writeFile(caFile, fcm.certificate.ca);
  const port = await freePort();
  const key = 'hk_validate_test_key';
  let stderr = '';
  const api = spawnHerald(['api'], {
    HERALD_DATABASE_URL: db.url,
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_API_KEY: key,
    HERALD_PORT: String(port),
    HERALD_HOST: '127.0.0.1',
    HERALD_FCM_URL: fcm.url,
    HERALD_DATABASE_POOL_SIZE: '4',
    NODE_EXTRA_CA_CERTS: caFile,
  });
  api.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitFor200(`${base}/readyz`, { child: api, output: () => stderr, exited: new Promise((r) => api.once('exit', r)) });
    const call = async (method: string, url: string, body: unknown) => {
      const res = await fetch(`${base}${url}`, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as { error?: { code: string } } };
    };
    // An app of its own with no fcm.url: its checks go where HERALD_FCM_URL points.
    const app = await call('PUT', '/v1/apps/shop', { name: 'Shop', fcm: { serviceAccount: fcm.account, validateTokens: true } });
    assert.equal(app.status, 200, JSON.stringify(app.json));
    const tokens = fcm.tokenRequests;
    const tls = fcm.tlsConnections;
    const dryRuns = fcm.received.length;
    for (let i = 0; i < 6; i++) {
      const res = await call('POST', '/v1/users/val-proc/devices', { platform: 'android', token: `tok-shop-${i}`, appId: 'shop' });
      assert.equal(res.status, 201, JSON.stringify(res.json));
    }
    const dead = await call('POST', '/v1/users/val-proc/devices', { platform: 'android', token: 'invalid-shop-token', appId: 'shop' });
    assert.equal(dead.status, 422, JSON.stringify(dead.json));
    assert.equal(dead.json.error?.code, 'INVALID_DEVICE_TOKEN');
    assert.equal(fcm.received.length - dryRuns, 6, 'six validate_only dry runs reached the fake');
    assert.equal(fcm.tokenRequests - tokens, 1, 'one OAuth token exchange for seven registrations');
    assert.ok(fcm.tlsConnections - tls <= 2, `${fcm.tlsConnections - tls} TLS handshakes: the token endpoint's and the API's, then reused`);
  } finally {
    api.kill('SIGTERM');
    await new Promise((resolve) => (api.exitCode === null ? api.once('exit', resolve) : resolve(undefined)));
  }
  assert.doesNotMatch(stderr, /"level":"(error|fatal)"/);
});
