import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import webpush from 'web-push';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { NO_HOOKS } from '../src/core/hooks.ts';
import { keyringFrom } from '../src/apps/secret-key.ts';
import { randomBytes } from 'node:crypto';

let h: TestHarness;
let dir: string;
const p8 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const serviceAccount = { type: 'service_account', project_id: 'proj-1', client_email: 'sa@proj-1.iam.gserviceaccount.com', private_key: rsa, private_key_id: 'kid-1' };
const vapid = webpush.generateVAPIDKeys();

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'herald-apps-'));
  await writeFile(path.join(dir, 'key.p8'), p8);
  await writeFile(path.join(dir, 'sa.json'), JSON.stringify(serviceAccount));
  h = await createHarness({
    HERALD_APNS_KEY_FILE: path.join(dir, 'key.p8'),
    HERALD_APNS_KEY_ID: 'ENVKEY',
    HERALD_APNS_TEAM_ID: 'ENVTEAM',
    HERALD_APNS_BUNDLE_ID: 'com.example.env',
    HERALD_FCM_SERVICE_ACCOUNT_FILE: path.join(dir, 'sa.json'),
    HERALD_WEBHOOK_URL: 'https://hooks.example.com/in',
    HERALD_WEBHOOK_SECRET: 'whsec',
  }, { hooks: NO_HOOKS });
});
after(async () => {
  await h.close();
  await rm(dir, { recursive: true, force: true });
});

const body = {
  name: 'Second app',
  apns: { teamId: 'TEAM1', keyId: 'KEY1', key: p8, bundleId: 'com.example.second', environment: 'development' },
  fcm: { serviceAccount },
  webpush: { vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey, subject: 'mailto:ops@example.com' },
  email: { from: 'Herald <no-reply@example.com>', smtpUrl: 'smtp://user:smtp-password@127.0.0.1:2525' },
  webhook: { url: 'https://hooks.example.com/second', secret: 'second-secret' },
};

test('PUT stores an app with sealed secrets; GET shows channels and key ids, never secrets', async () => {
  const res = await h.request({ method: 'PUT', url: '/v1/apps/second', payload: body });
  assert.equal(res.statusCode, 200, res.body);
  const got = await h.request({ url: '/v1/apps/second' });
  assert.equal(got.statusCode, 200);
  const view = got.json();
  assert.deepEqual(Object.keys(view.channels).sort(), ['apns', 'email', 'fcm', 'webhook', 'webpush']);
  assert.equal(view.channels.apns.keyId, 'KEY1');
  assert.equal(view.channels.apns.bundleId, 'com.example.second');
  assert.equal(view.channels.fcm.projectId, 'proj-1');
  for (const secret of ['PRIVATE KEY', 'smtp-password', 'second-secret', vapid.privateKey]) {
    assert.ok(!got.body.includes(secret), `GET leaks ${secret}`);
    assert.ok(!res.body.includes(secret), `PUT leaks ${secret}`);
  }
  const { rows } = await h.db.pool.query<{ secrets: Buffer; settings: unknown }>(`SELECT secrets, settings FROM apps WHERE id = 'second'`);
  const raw = rows[0]!.secrets.toString('latin1') + JSON.stringify(rows[0]!.settings);
  assert.ok(!raw.includes('smtp-password') && !raw.includes('second-secret') && !raw.includes('PRIVATE KEY'), 'secrets are sealed at rest');
  const creds = await h.services.credentials.get('second');
  assert.equal(creds?.apns?.key, p8);
  assert.equal(creds?.email?.smtpUrl, body.email.smtpUrl);
  assert.equal(creds?.webhook?.secret, 'second-secret');
  const events = await h.db.pool.query(`SELECT type, item_id FROM events WHERE type = 'app:updated' AND item_id = 'second'`);
  assert.equal(events.rowCount, 1);
});

test('devices may now name the app', async () => {
  const res = await h.request({ method: 'POST', url: '/v1/users/u1/devices', payload: { platform: 'android', token: 'tok-second', appId: 'second' } });
  assert.equal(res.statusCode, 201, res.body);
  assert.equal(res.json().appId, 'second');
});

test('the default app comes from HERALD_* variables, with a stored default row laid over it', async () => {
  const env = await h.services.credentials.get('default');
  assert.equal(env?.apns?.keyId, 'ENVKEY');
  assert.equal(env?.apns?.key, p8);
  assert.equal(env?.fcm?.serviceAccount.project_id, 'proj-1');
  assert.equal(env?.webhook?.secret, 'whsec');
  const view = (await h.request({ url: '/v1/apps/default' })).json();
  assert.equal(view.channels.apns.teamId, 'ENVTEAM');

  const put = await h.request({ method: 'PUT', url: '/v1/apps/default', payload: { name: 'Main', webhook: { url: 'https://hooks.example.com/override' } } });
  assert.equal(put.statusCode, 200, put.body);
  const merged = await h.services.credentials.get('default');
  assert.equal(merged?.webhook?.url, 'https://hooks.example.com/override');
  assert.equal(merged?.apns?.keyId, 'ENVKEY', 'channels the row does not set still come from the environment');
  assert.equal(merged?.name, 'Main');
});

test('reportProblem shows on the app status; clearing removes it', async () => {
  await h.services.credentials.reportProblem('second', 'apns', 'InvalidProviderToken');
  let view = (await h.request({ url: '/v1/apps/second' })).json();
  assert.equal(view.status.apns.problem, 'InvalidProviderToken');
  await h.services.credentials.reportProblem('second', 'apns', undefined);
  view = (await h.request({ url: '/v1/apps/second' })).json();
  assert.deepEqual(view.status, {});
  await h.services.credentials.reportProblem('default', 'fcm', 'SENDER_ID_MISMATCH');
  assert.equal((await h.request({ url: '/v1/apps/default' })).json().status.fcm.problem, 'SENDER_ID_MISMATCH');
});

test('bad credentials: shape errors are 400, unusable keys 422 INVALID_CREDENTIALS; nothing stored', async () => {
  const cases: Array<[unknown, number, string]> = [
    [{ name: 'x', apns: { bundleId: 'b', keyId: 'k', teamId: 't' } }, 400, 'VALIDATION_FAILED'],
    [{ name: 'x', apns: { bundleId: 'b', keyId: 'k', teamId: 't', key: 'not a key' } }, 422, 'INVALID_CREDENTIALS'],
    [{ name: 'x', apns: { bundleId: 'b', cert: 'nope', privateKey: p8 } }, 422, 'INVALID_CREDENTIALS'],
    [{ name: 'x', fcm: { serviceAccount: '{not json' } }, 400, 'VALIDATION_FAILED'],
    [{ name: 'x', fcm: { serviceAccount: { project_id: 'p' } } }, 400, 'VALIDATION_FAILED'],
    [{ name: 'x', webpush: { vapidPublicKey: 'abc', vapidPrivateKey: vapid.privateKey, subject: 'mailto:a@b.c' } }, 422, 'INVALID_CREDENTIALS'],
    [{ name: 'x', email: { from: 'a@b.c' } }, 400, 'VALIDATION_FAILED'],
    [{ name: 'x', webhook: { url: 'ftp://x' } }, 400, 'VALIDATION_FAILED'],
    [{ apns: {} }, 400, 'VALIDATION_FAILED'],
    [{ name: 'x', sms: {} }, 400, 'VALIDATION_FAILED'],
  ];
  for (const [payload, status, code] of cases) {
    const res = await h.request({ method: 'PUT', url: '/v1/apps/broken', payload: payload as object });
    assert.equal(res.statusCode, status, `${JSON.stringify(payload).slice(0, 80)} → ${res.body}`);
    assert.equal(res.json().error.code, code);
  }
  assert.equal((await h.db.pool.query(`SELECT 1 FROM apps WHERE id = 'broken'`)).rowCount, 0);
  assert.equal((await h.request({ url: '/v1/apps/broken' })).statusCode, 404);
});

test('sealed credentials open only with the same key and app id', async () => {
  const ring = await keyringFrom(randomBytes(32).toString('hex'));
  const other = await keyringFrom(randomBytes(32).toString('hex'));
  const sealed = ring.seal('{"a":1}', 'app1');
  assert.equal(ring.open(sealed, 'app1'), '{"a":1}');
  assert.throws(() => ring.open(sealed, 'app2'));
  assert.throws(() => other.open(sealed, 'app1'));
  const tampered = Buffer.from(sealed);
  tampered[tampered.length - 1]! ^= 1;
  assert.throws(() => ring.open(tampered, 'app1'));
});
