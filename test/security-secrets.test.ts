import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { SignJWT } from 'jose';
import { createHarness } from './helpers/app.ts';
import { createTestDatabase } from './helpers/db.ts';
import { ensureBuilt, freePort, spawnHerald, tempDir, waitFor200 } from './helpers/herald-process.ts';
import { loadConfig, redactConfig, redactedEnvironment } from '../src/config/index.ts';
import { keyringFrom } from '../src/apps/secret-key.ts';
import { CredentialStore } from '../src/apps/credentials.ts';
import { createLogger } from '../src/log/index.ts';

/**
 * Threat: an operator's secrets read back from where they should never be: the start-up log,
 * `herald config`, an API response, or a stolen database dump. Defences: the logged
 * configuration is an allow-list (anything not declared safe is redacted, URLs lose their
 * credentials), app credentials are sealed under a key derived with scrypt/HKDF, and keys can
 * be rotated without losing what the old key sealed.
 */
const SECRETS = {
  HERALD_SECRET_KEY: 'sk-passphrase-ZXCV-never-printed',
  HERALD_SECRET_KEYS_PREVIOUS: 'old-passphrase-QWER-never-printed',
  HERALD_API_KEY: 'hk_admin_key_ASDF_never_printed',
  HERALD_USER_JWT_SECRET: 'jwt-secret-UIOP-never-printed',
  HERALD_WEBHOOK_SECRET: 'webhook-secret-GHJK-never-printed',
  HERALD_VAPID_PRIVATE_KEY: 'vapid-private-BNML-never-printed',
  HERALD_APNS_PASSPHRASE: 'apns-passphrase-TYUI-never-printed',
};
/** Secrets inside URLs: the values that must not appear, and the URLs that carry them. */
const URL_SECRETS = ['hookpass-RTYU', 'hooktoken-FGHJ', 'smtppass-VBNM', 'dbpass-WERT'];
const secretValues = () => [...Object.values(SECRETS), ...URL_SECRETS];

function withUrlSecrets(databaseUrl: string): Record<string, string> {
  const db = new URL(databaseUrl);
  db.username = 'postgres';
  db.password = 'dbpass-WERT';
  return {
    HERALD_DATABASE_URL: db.toString(),
    HERALD_WEBHOOK_URL: 'https://hookuser:hookpass-RTYU@hooks.example.com/herald?token=hooktoken-FGHJ',
    HERALD_SMTP_URL: 'smtp://mailer:smtppass-VBNM@127.0.0.1:2525',
    HERALD_EMAIL_FROM: 'herald@example.com',
  };
}

test('no configured secret appears in the redacted configuration or in `herald config`, whatever its name (secretKey included)', () => {
  const env = { ...SECRETS, ...withUrlSecrets('postgres://127.0.0.1:5432/herald'), HERALD_VAPID_PUBLIC_KEY: 'BPublicKeyIsFine' };
  const config = loadConfig(env);
  const logged = JSON.stringify(redactConfig(config));
  const printed = JSON.stringify(redactedEnvironment(env));
  for (const secret of secretValues()) {
    assert.ok(!logged.includes(secret), `the logged configuration shows ${secret}`);
    assert.ok(!printed.includes(secret), `herald config shows ${secret}`);
  }
  // What helps an operator is still there: hosts, paths, public values.
  assert.match(logged, /https:\/\/hooks\.example\.com\/herald\?\[redacted\]/);
  assert.match(logged, /BPublicKeyIsFine/);
  assert.match(printed, /smtp:\/\/127\.0\.0\.1:2525/);
});

test('a real herald started with every secret set prints none of them in its start-up log or in any API response', async () => {
  await ensureBuilt();
  const db = await createTestDatabase(2);
  const port = await freePort();
  const dataDir = await tempDir('herald-sec-secrets-');
  const herald = spawnHerald(['api'], {
    ...SECRETS,
    ...withUrlSecrets(db.url),
    HERALD_VAPID_PUBLIC_KEY: 'BPublicKeyIsFine',
    HERALD_PORT: String(port),
    HERALD_HOST: '127.0.0.1',
    HERALD_DATA_DIR: dataDir,
    HERALD_LOG_LEVEL: 'debug',
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor200(`${base}/readyz`, herald);
    const admin = { authorization: `Bearer ${SECRETS.HERALD_API_KEY}`, 'content-type': 'application/json' };
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setExpirationTime('5m').sign(new TextEncoder().encode(SECRETS.HERALD_USER_JWT_SECRET));
    const bodies: string[] = [];
    const call = async (url: string, init: RequestInit = {}) => {
      const res = await fetch(`${base}${url}`, init);
      bodies.push(`${url} ${res.status} ${JSON.stringify(Object.fromEntries(res.headers))} ${await res.text()}`);
    };
    await call('/v1/apps/default', { headers: admin });
    await call('/v1/apps/other', { method: 'PUT', headers: admin, body: JSON.stringify({ name: 'other', webhook: { url: 'https://u:hookpass-RTYU@h.example.com/x?token=hooktoken-FGHJ', secret: SECRETS.HERALD_WEBHOOK_SECRET } }) });
    await call('/v1/apps/other', { headers: admin });
    await call('/v1/me/reminders', { headers: { authorization: `Bearer ${jwt}` } });
    await call('/v1/me/reminders', { method: 'POST', headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' }, body: '{"date": broken' });
    await call('/openapi.json');
    await call('/readyz');
    await call('/metrics');
    await call('/v1/nothing-here', { headers: admin });
    assert.ok(bodies[0]!.includes('hooks.example.com'), bodies[0]!);
    for (const secret of secretValues()) {
      assert.ok(!herald.output().includes(secret), `the log shows ${secret}:\n${herald.output().slice(0, 3000)}`);
      for (const body of bodies) assert.ok(!body.includes(secret), `a response shows ${secret}: ${body.slice(0, 500)}`);
    }
  } finally {
    herald.child.kill('SIGKILL');
    await herald.exited;
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('GET /v1/apps/{appId} shows a webhook URL without the credentials in it', async () => {
  const h = await createHarness();
  try {
    const put = await h.request({ method: 'PUT', url: '/v1/apps/hooked', payload: { name: 'hooked', webhook: { url: 'https://user:hookpass-RTYU@hooks.example.com/in?token=hooktoken-FGHJ' } } });
    assert.ok(put.statusCode < 300, put.body);
    const got = await h.request({ url: '/v1/apps/hooked' });
    assert.equal(got.json().channels.webhook.url, 'https://hooks.example.com/in?[redacted]');
    for (const body of [put.body, got.body]) assert.ok(!body.includes('hookpass') && !body.includes('hooktoken'), body);
    // The channel still gets the whole URL.
    assert.equal((await h.services.credentials.load('hooked'))?.webhook?.url, 'https://user:hookpass-RTYU@hooks.example.com/in?token=hooktoken-FGHJ');
  } finally {
    await h.close();
  }
});

/** How the release before key rotation sealed credentials: AES-256-GCM under the key as given, or SHA-256 of a passphrase; version 1, no key id. */
function sealAsVersion1(secretKey: string, plaintext: string, aad: string): Buffer {
  const key = /^[0-9a-f]{64}$/i.test(secretKey) ? Buffer.from(secretKey, 'hex') : createHash('sha256').update(secretKey, 'utf8').digest();
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([1]), nonce, cipher.getAuthTag(), body]);
}

test('credentials sealed before the upgrade stay readable, and a rotated key keeps what the old key sealed readable while new values are sealed with the new key', async () => {
  const h = await createHarness();
  const store = (keyring: Awaited<ReturnType<typeof keyringFrom>>) => new CredentialStore({ pool: h.db.pool, keyring, config: h.ctx.config, dataDir: h.ctx.dataDir, log: createLogger('silent') });
  try {
    for (const secretKey of ['an old passphrase', randomBytes(32).toString('hex')]) {
      const id = `legacy-${secretKey.length}`;
      const sealed = sealAsVersion1(secretKey, JSON.stringify({ webhook: { url: 'https://legacy.example.com/', secret: 'legacy-secret' } }), id);
      await h.db.pool.query(`INSERT INTO apps (id, name, settings, secrets) VALUES ($1, $1, '{}', $2)`, [id, sealed]);
      assert.equal((await store(await keyringFrom(secretKey)).load(id))?.webhook?.secret, 'legacy-secret', 'a version-1 row opens after the upgrade');
      assert.equal((await store(await keyringFrom('a new key', [secretKey])).load(id))?.webhook?.secret, 'legacy-secret', 'and after rotating to a new key');
    }
    const oldRing = await keyringFrom('key one');
    const newRing = await keyringFrom('key two', ['key one']);
    const sealedOld = oldRing.seal('{"webhook":{"url":"https://a.example.com/","secret":"s1"}}', 'rotated');
    await h.db.pool.query(`INSERT INTO apps (id, name, settings, secrets) VALUES ('rotated', 'rotated', '{}', $1)`, [sealedOld]);
    assert.equal((await store(newRing).load('rotated'))?.webhook?.secret, 's1');
    const sealedNew = newRing.seal('x', 'rotated');
    assert.ok(sealedNew.subarray(1, 9).equals(newRing.current.id), 'new values carry the current key id');
    assert.ok(!sealedNew.subarray(1, 9).equals(oldRing.current.id));
    assert.throws(() => oldRing.open(sealedNew, 'rotated'), /not configured/);
    // Without the old key in the ring, its rows no longer open.
    assert.equal((await store(await keyringFrom('key two')).load('rotated'))?.webhook, undefined);
  } finally {
    await h.close();
  }
});

test('the sealing key is derived with a KDF: a sealed value does not open with the passphrase’s plain SHA-256', async () => {
  const ring = await keyringFrom('correct horse battery staple');
  const sealed = ring.seal('{"secret":"x"}', 'app');
  assert.equal(sealed[0], 2);
  const weak = await keyringFrom(createHash('sha256').update('correct horse battery staple').digest('hex'));
  assert.throws(() => weak.open(sealed, 'app'));
  assert.ok(!ring.current.key.equals(createHash('sha256').update('correct horse battery staple').digest()));
});

test('HERALD_SECRET_KEYS_PREVIOUS is a secret: `herald config` and a bad-configuration message never show it', () => {
  const printed = JSON.stringify(redactedEnvironment({ HERALD_SECRET_KEYS_PREVIOUS: 'k1-secret,k2-secret' }));
  assert.ok(!printed.includes('k1-secret'));
});
