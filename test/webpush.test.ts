import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import webpush from 'web-push';
import { createLogger } from '../src/log/index.ts';
import type { AppChannel, AppCredentials, AppCredentialStore } from '../src/apps/types.ts';
import type { DeliveryJob, NotificationContent, WebPushSubscription } from '../src/channels/types.ts';
import { WebPushChannel, ensureDefaultVapidKeys, generateVapidKeys, webPushTopic, MAX_PLAINTEXT_BYTES } from '../src/channels/webpush/index.ts';
import { FakeWebPushServer } from './fakes/webpush-server.ts';
import { OutboundPolicy } from '../src/outbound/index.ts';
import { TEST_OUTBOUND_ALLOW } from './helpers/app.ts';

/** Contract test of the Web Push channel against a push service that decrypts every message. */

class MemoryCredentials implements AppCredentialStore {
  readonly apps = new Map<string, AppCredentials>();
  readonly problems = new Map<string, string | undefined>();
  async get(appId: string) {
    return this.apps.get(appId);
  }
  async reportProblem(appId: string, channel: AppChannel, problem: string | undefined) {
    this.problems.set(`${appId}/${channel}`, problem);
  }
}

const vapid = generateVapidKeys();
let fake: FakeWebPushServer;
let store: MemoryCredentials;
let channel: WebPushChannel;

function job(subscription: WebPushSubscription, content: NotificationContent = { title: 'Hi', body: 'there' }, extra: Partial<DeliveryJob> = {}): DeliveryJob {
  return {
    id: `d-${Math.random().toString(36).slice(2)}`,
    notificationId: 'n1',
    provider: 'webpush',
    appId: 'default',
    attempt: 1,
    dueAt: new Date(),
    expiresAt: undefined,
    user: { id: 'u1' },
    device: { id: 'dev1', platform: 'web', token: subscription.endpoint, subscription },
    content,
    ...extra,
  };
}

before(async () => {
  fake = await new FakeWebPushServer().start();
  store = new MemoryCredentials();
  store.apps.set('default', { id: 'default', name: 'd', webpush: { vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey, subject: 'mailto:ops@example.com' } });
  store.apps.set('bare', { id: 'bare', name: 'bare' });
  channel = new WebPushChannel({ credentials: store, log: createLogger('silent'), outbound: new OutboundPolicy(TEST_OUTBOUND_ALLOW.split(',')) }, { ca: fake.certificate.ca });
});

after(async () => {
  await channel.close();
  await fake.close();
});

test('a push is encrypted, VAPID-signed and decrypted by the push service', async () => {
  const sub = fake.subscribe(vapid.publicKey);
  const expiresAt = new Date(Date.now() + 300_000);
  const verdict = await channel.send(job(sub, {
    title: 'Stand-up', body: 'in 10 minutes ✓', url: 'https://example.com/r/1', data: { n: 1 }, priority: 'high',
    collapseId: 'standup', webpush: { icon: '/icon.png' },
  }, { expiresAt }));
  assert.equal(verdict.status, 'sent');
  assert.match((verdict as { providerId: string }).providerId, /\/message\//);
  const push = fake.received.at(-1)!;
  assert.equal(push.subscriptionId, sub.id);
  assert.deepEqual(JSON.parse(push.payload), {
    title: 'Stand-up', body: 'in 10 minutes ✓', url: 'https://example.com/r/1', data: { n: 1 }, tag: 'standup',
    notificationId: 'n1', icon: '/icon.png',
  });
  assert.ok(push.ttl >= 298 && push.ttl <= 300, `TTL ${push.ttl}`);
  assert.equal(push.urgency, 'high');
  assert.equal(push.topic, 'standup');
  assert.equal(push.vapidKey, vapid.publicKey);
  assert.equal(push.claims.aud, fake.origin);
  assert.equal(push.claims.sub, 'mailto:ops@example.com');
});

test('defaults: TTL from ttlSeconds (or four weeks), normal urgency, low for background; long topics hashed', async () => {
  const sub = fake.subscribe();
  await channel.send(job(sub, { body: 'x', ttlSeconds: 90, collapseId: 'a topic with spaces that is far too long for the header' }));
  let push = fake.received.at(-1)!;
  assert.equal(push.ttl, 90);
  assert.equal(push.urgency, 'normal');
  assert.equal(push.topic, webPushTopic('a topic with spaces that is far too long for the header'));
  assert.equal(push.topic!.length, 32);
  await channel.send(job(sub, { pushType: 'background', data: { sync: true } }));
  push = fake.received.at(-1)!;
  assert.equal(push.ttl, 28 * 24 * 3600);
  assert.equal(push.urgency, 'low');
  assert.equal(push.topic, undefined);
});

test('404 and 410 make the device invalid', async () => {
  const sub = fake.subscribe();
  fake.unsubscribe(sub.id);
  assert.equal((await channel.send(job(sub))).status, 'device-invalid');
  const unknown = { endpoint: `${fake.origin}/push/never-existed`, keys: sub.keys };
  assert.equal((await channel.send(job(unknown))).status, 'device-invalid');
});

test('429 and 5xx are retried after Retry-After; 413 fails', async () => {
  const sub = fake.subscribe();
  fake.failNext(sub.id, { status: 429, retryAfter: '45' }, { status: 503 }, { status: 413 });
  const limited = await channel.send(job(sub));
  assert.deepEqual([limited.status, (limited as { retryAfterMs?: number }).retryAfterMs], ['retry', 45_000]);
  const unavailable = await channel.send(job(sub));
  assert.deepEqual([unavailable.status, (unavailable as { retryAfterMs?: number }).retryAfterMs], ['retry', undefined]);
  assert.equal((await channel.send(job(sub))).status, 'failed');
  assert.equal((await channel.send(job(sub))).status, 'sent');
});

test('a payload over one record is refused before anything is sent', async () => {
  const sub = fake.subscribe();
  const sent = fake.received.length;
  const rejected = fake.rejected.length;
  const verdict = await channel.send(job(sub, { body: 'x'.repeat(MAX_PLAINTEXT_BYTES) }));
  assert.equal(verdict.status, 'failed');
  assert.match((verdict as { error: string }).error, /4096-byte record/);
  assert.equal(fake.received.length, sent);
  assert.equal(fake.rejected.length, rejected);
  // Just under the limit still goes through and decrypts.
  const body = 'y'.repeat(MAX_PLAINTEXT_BYTES - Buffer.byteLength(JSON.stringify({ body: '', notificationId: 'n1' })));
  assert.equal((await channel.send(job(sub, { body }))).status, 'sent');
  assert.equal(JSON.parse(fake.received.at(-1)!.payload).body, body);
});

test('a subscription made with another VAPID key fails that delivery only (the app keeps its status); bad keys make the device invalid', async () => {
  const other = generateVapidKeys();
  const sub = fake.subscribe(other.publicKey);
  const verdict = await channel.send(job(sub));
  assert.equal(verdict.status, 'failed');
  assert.equal((verdict as { error: string }).error, 'push service answered 403');
  // The endpoint is the user's choice: its 403 says nothing certain about the app's keys.
  assert.equal((verdict as { appProblem?: string }).appProblem, undefined);
  assert.equal(store.problems.get('default/webpush'), undefined);
  assert.equal((await channel.send(job(fake.subscribe()))).status, 'sent');

  const broken = { endpoint: `${fake.origin}/push/x`, keys: { p256dh: 'AAAA', auth: 'BBBB' } };
  assert.equal((await channel.send(job(broken))).status, 'device-invalid');
});

test('apps without VAPID keys, or with unusable ones, fail with what to configure', async () => {
  const sub = fake.subscribe();
  const bare = await channel.send(job(sub, undefined, { appId: 'bare' }));
  assert.equal(bare.status, 'failed');
  assert.match((bare as { appProblem: string }).appProblem, /PUT \/v1\/apps\/bare/);
  store.apps.set('badkeys', { id: 'badkeys', name: 'b', webpush: { vapidPublicKey: 'nope', vapidPrivateKey: 'nope', subject: 'mailto:a@b.c' } });
  const bad = await channel.send(job(sub, undefined, { appId: 'badkeys' }));
  assert.equal(bad.status, 'failed');
  assert.match((bad as { appProblem: string }).appProblem, /VAPID keys are not usable/);
});

test('a connection dropped before the answer is a retry, and the next push goes through', async () => {
  const sub = fake.subscribe();
  fake.failNext(sub.id, 'drop');
  assert.equal((await channel.send(job(sub))).status, 'retry');
  assert.equal((await channel.send(job(sub))).status, 'sent');
});

test('an unreachable push service is a retry', async () => {
  const sub = { endpoint: 'https://localhost:1/push/x', keys: fake.subscribe().keys };
  assert.equal((await channel.send(job(sub))).status, 'retry');
});

test('the fake decrypts what the web-push package sends too (the two encryptions agree)', async () => {
  const sub = fake.subscribe();
  const agent = new https.Agent({ ca: fake.certificate.ca });
  try {
    const result = await webpush.sendNotification(sub, 'from web-push', {
      vapidDetails: { subject: 'mailto:ops@example.com', publicKey: vapid.publicKey, privateKey: vapid.privateKey },
      TTL: 60,
      agent,
    });
    assert.equal(result.statusCode, 201);
    assert.equal(fake.received.at(-1)!.payload, 'from web-push');
  } finally {
    agent.destroy();
  }
});

test('concurrent pushes reuse a few keep-alive connections', async () => {
  const subs = Array.from({ length: 20 }, () => fake.subscribe());
  const before = fake.connections;
  const verdicts = await Promise.all(Array.from({ length: 400 }, (_, i) => channel.send(job(subs[i % subs.length]!))));
  assert.ok(verdicts.every((v) => v.status === 'sent'));
  assert.ok(fake.connections - before <= 16, `${fake.connections - before} new connections`);
});

test('ensureDefaultVapidKeys generates the pair once and keeps it', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'herald-vapid-'));
  try {
    const [a, b] = await Promise.all([ensureDefaultVapidKeys(dir), ensureDefaultVapidKeys(dir)]);
    assert.deepEqual(a, b);
    assert.deepEqual(await ensureDefaultVapidKeys(dir), a);
    assert.equal(Buffer.from(a.publicKey, 'base64url').length, 65);
    assert.equal((await stat(path.join(dir, 'vapid.json'))).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await readFile(path.join(dir, 'vapid.json'), 'utf8')), a);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('VAPID private keys are always 32 bytes, and a key missing its leading zero still signs', async () => {
  const { createECDH } = await import('node:crypto');
  const { VapidSigner } = await import('../src/channels/webpush/index.ts');
  for (let i = 0; i < 2000; i++) {
    const k = generateVapidKeys();
    assert.equal(Buffer.from(k.privateKey, 'base64url').length, 32);
    assert.equal(Buffer.from(k.publicKey, 'base64url').length, 65);
  }
  // A pair whose private key starts with a zero byte, written without it (as some tools do).
  let ecdh = createECDH('prime256v1');
  do {
    ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
  } while (ecdh.getPrivateKey().length === 32);
  const short = { publicKey: ecdh.getPublicKey().toString('base64url'), privateKey: ecdh.getPrivateKey().toString('base64url') };
  assert.match(new VapidSigner().authorization(short, 'mailto:a@example.com', fake.origin), /^vapid t=[\w-]+\.[\w-]+\.[\w-]+, k=/);
});
