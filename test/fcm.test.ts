import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../src/log/index.ts';
import type { AppChannel, AppCredentials, AppCredentialStore } from '../src/apps/types.ts';
import type { DeliveryJob, NotificationContent } from '../src/channels/types.ts';
import { FcmChannel, FcmSender, validatePushDevice } from '../src/channels/fcm/index.ts';
import { FakeFcmServer } from './fakes/fcm-server.ts';
import { trackingProblems } from './helpers/app-problems.ts';

/** Contract test of the FCM channel against the fake FCM (OAuth token endpoint + HTTP v1 over HTTP/2 TLS). */

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

let fake: FakeFcmServer;
let store: MemoryCredentials;
let channel: FcmChannel;
let clock = 0;

function job(token: string, content: NotificationContent = { title: 'Hi', body: 'there' }, extra: Partial<DeliveryJob> = {}): DeliveryJob {
  return {
    id: `d-${Math.random().toString(36).slice(2)}`,
    notificationId: 'n1',
    provider: 'fcm',
    appId: 'default',
    attempt: 1,
    dueAt: new Date(),
    expiresAt: undefined,
    user: { id: 'u1' },
    device: { id: 'dev1', platform: 'android', token },
    content,
    ...extra,
  };
}

before(async () => {
  fake = await new FakeFcmServer().start();
  store = new MemoryCredentials();
  store.apps.set('default', { id: 'default', name: 'default', fcm: { serviceAccount: fake.account, url: fake.url, validateTokens: true } });
  store.apps.set('bare', { id: 'bare', name: 'bare' });
  channel = trackingProblems(
    new FcmChannel({ credentials: store, log: createLogger('silent') }, { ca: fake.certificate.ca, maxSessions: 3, now: () => Date.now() + clock }),
    store,
  );
});

after(async () => {
  await channel.close();
  await fake.close();
});

test('a notification is sent and mapped onto the v1 message', async () => {
  const expiresAt = new Date(Date.now() + 600_000);
  const verdict = await channel.send(job('tok-a', {
    title: 'Stand-up', body: 'in 10 minutes', image: 'https://example.com/i.png', url: 'https://example.com/r/1',
    data: { n: 3, nested: { a: true }, s: 'x', 'google.sent_time': 'dropped' }, priority: 'normal', collapseId: 'standup',
    sound: 'default', badge: 2,
    fcm: { androidChannelId: 'reminders', apns: { payload: { aps: { badge: 2 } } }, android: { notification: { color: '#ff0000' } } },
  }, { expiresAt }));
  assert.equal(verdict.status, 'sent');
  assert.match((verdict as { providerId: string }).providerId, /^projects\/herald-test\/messages\/0:/);
  const m = fake.received.at(-1)!.message as Record<string, any>;
  assert.equal(m.token, 'tok-a');
  assert.deepEqual(m.notification, { title: 'Stand-up', body: 'in 10 minutes', image: 'https://example.com/i.png' });
  assert.deepEqual(m.data, { n: '3', nested: '{"a":true}', s: 'x', url: 'https://example.com/r/1' });
  assert.equal(m.android.priority, 'NORMAL', 'the AndroidMessagePriority enum name');
  assert.equal(m.android.collapse_key, 'standup');
  assert.match(m.android.ttl, /^(599|600)s$/);
  assert.equal(m.android.notification.channel_id, 'reminders');
  assert.equal(m.android.notification.color, '#ff0000');
  assert.equal(m.android.notification.notification_count, 2);
  assert.deepEqual(m.apns, { payload: { aps: { badge: 2 } } });
  assert.equal(m.androidChannelId, undefined);
});

test('a background push is data-only; a web device with an FCM token gets webpush options', async () => {
  assert.equal((await channel.send(job('tok-bg', { pushType: 'background', data: { k: 'v' } }))).status, 'sent');
  const bg = fake.received.at(-1)!.message as Record<string, any>;
  assert.equal(bg.notification, undefined);
  assert.equal(bg.android.priority, 'NORMAL');
  assert.deepEqual(bg.data, { k: 'v' });

  const web = job('tok-web', { title: 'T', url: 'https://example.com/x', ttlSeconds: 60 });
  const verdict = await channel.send({ ...web, device: { id: 'w', platform: 'web', token: 'tok-web' } });
  assert.equal(verdict.status, 'sent');
  const m = fake.received.at(-1)!.message as Record<string, any>;
  assert.equal(m.android, undefined);
  assert.deepEqual(m.webpush, { headers: { TTL: '60', Urgency: 'high' }, fcm_options: { link: 'https://example.com/x' } });
});

test('android.priority is an AndroidMessagePriority name; a value outside the enum is refused without touching the device', async () => {
  for (const [priority, sent] of [['high', 'HIGH'], ['critical', 'HIGH'], ['normal', 'NORMAL']] as const) {
    assert.equal((await channel.send(job('tok-prio', { title: 'T', priority }))).status, 'sent');
    assert.equal((fake.received.at(-1)!.message as { android: { priority: string } }).android.priority, sent, priority);
  }
  for (const bad of ['PRIORITY_HIGH', 'High', 'urgent', 10]) {
    const verdict = await channel.send(job('tok-prio', { title: 'T', fcm: { android: { priority: bad } } }));
    assert.equal(verdict.status, 'failed', String(bad));
    assert.match((verdict as { error: string }).error, /INVALID_ARGUMENT/);
    assert.match((verdict as { error: string }).error, /android\.priority/);
  }
  // The lower-case spellings FCM also takes (firebase-admin sends them) pass through an override.
  assert.equal((await channel.send(job('tok-prio', { title: 'T', fcm: { android: { priority: 'normal' } } }))).status, 'sent');
});

test('dead tokens make the device invalid', async () => {
  fake.failToken('tok-unreg', { status: 404, errorCode: 'UNREGISTERED', message: 'Requested entity was not found.' });
  fake.failToken('tok-sender', { status: 403, errorCode: 'SENDER_ID_MISMATCH', message: 'SenderId mismatch' });
  assert.equal((await channel.send(job('tok-unreg'))).status, 'device-invalid');
  assert.equal((await channel.send(job('tok-sender'))).status, 'device-invalid');
  // The fake refuses tokens starting with "invalid" with INVALID_ARGUMENT on message.token.
  const invalid = await channel.send(job('invalid-token'));
  assert.equal(invalid.status, 'device-invalid');
  assert.match((invalid as { error: string }).error, /INVALID_ARGUMENT/);
});

test('an INVALID_ARGUMENT about the message itself fails without touching the device', async () => {
  const verdict = await channel.send(job('tok-x', { title: 'T', fcm: { android: { ttl: 600 } } }));
  assert.equal(verdict.status, 'failed');
  assert.match((verdict as { error: string }).error, /android\.ttl/);
  assert.equal((verdict as { appProblem?: string }).appProblem, undefined);
});

test('QUOTA_EXCEEDED, UNAVAILABLE and INTERNAL are retried, honouring Retry-After', async () => {
  fake.failNext('tok-busy',
    { status: 429, errorCode: 'QUOTA_EXCEEDED', retryAfter: '30' },
    { status: 503, errorCode: 'UNAVAILABLE', retryAfter: new Date(Date.now() + 120_000).toUTCString() },
    { status: 500, errorCode: 'INTERNAL' });
  const quota = await channel.send(job('tok-busy'));
  assert.deepEqual([quota.status, (quota as { retryAfterMs?: number }).retryAfterMs], ['retry', 30_000]);
  const unavailable = await channel.send(job('tok-busy'));
  assert.equal(unavailable.status, 'retry');
  const ms = (unavailable as { retryAfterMs?: number }).retryAfterMs!;
  assert.ok(ms > 100_000 && ms <= 120_000, `retryAfterMs ${ms}`);
  const internal = await channel.send(job('tok-busy'));
  assert.deepEqual([internal.status, (internal as { retryAfterMs?: number }).retryAfterMs], ['retry', undefined]);
  assert.equal((await channel.send(job('tok-busy'))).status, 'sent');
});

test('THIRD_PARTY_AUTH_ERROR is an app problem, reported and then cleared by a success', async () => {
  fake.failNext('tok-3p', { status: 401, errorCode: 'THIRD_PARTY_AUTH_ERROR', message: 'APNs certificate expired' });
  const verdict = await channel.send(job('tok-3p'));
  assert.equal(verdict.status, 'failed');
  assert.match((verdict as { appProblem: string }).appProblem, /THIRD_PARTY_AUTH_ERROR/);
  assert.match(store.problems.get('default/fcm')!, /THIRD_PARTY_AUTH_ERROR/);
  assert.equal((await channel.send(job('tok-3p'))).status, 'sent');
  assert.equal(store.problems.get('default/fcm'), undefined);
  assert.ok(store.problems.has('default/fcm'));
});

test('the access token is cached, renewed before expiry, and replaced when revoked', async () => {
  const before = fake.tokenRequests;
  await Promise.all(Array.from({ length: 20 }, (_, i) => channel.send(job(`tok-c${i}`))));
  assert.equal(fake.tokenRequests, before, 'cached token reused');
  clock = 56 * 60_000; // 4 minutes before the hour-long token expires: renew in the background
  assert.equal((await channel.send(job('tok-renew'))).status, 'sent');
  const oldToken = fake.received.at(-1)!.accessToken;
  // Sends go on with the old token until the renewed one arrives.
  for (let i = 0; i < 1000; i++) {
    assert.equal((await channel.send(job(`tok-renewing${i}`))).status, 'sent');
    if (fake.received.at(-1)!.accessToken !== oldToken) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.notEqual(fake.received.at(-1)!.accessToken, oldToken, 'the renewed token is in use');
  assert.equal(fake.tokenRequests, before + 1, 'one renewal, however many sends');
  // The renewed token lives until minute 116; 30 s before that it is too close to expiry to
  // hand out, so the caller waits for a fresh one.
  const renewedAt = fake.tokenRequests;
  clock = 115.5 * 60_000;
  assert.equal((await channel.send(job('tok-late'))).status, 'sent');
  assert.equal(fake.tokenRequests, renewedAt + 1);
  clock = 0;
  fake.revokeAccessTokens();
  assert.equal((await channel.send(job('tok-revoked'))).status, 'sent');
  assert.equal(fake.tokenRequests, before + 3);
});

test('a service account the token endpoint refuses is an app problem', async () => {
  const other = await new FakeFcmServer().start();
  other.refuseGrants = true;
  const creds = new MemoryCredentials();
  creds.apps.set('default', { id: 'default', name: 'd', fcm: { serviceAccount: other.account, url: other.url } });
  const ch = trackingProblems(new FcmChannel({ credentials: creds, log: createLogger('silent') }, { ca: other.certificate.ca }), creds);
  try {
    const verdict = await ch.send(job('tok'));
    assert.equal(verdict.status, 'failed');
    assert.match((verdict as { appProblem: string }).appProblem, /invalid_grant/);
    assert.match(creds.problems.get('default/fcm')!, /refused the FCM service account/);
  } finally {
    await ch.close();
    await other.close();
  }
});

test('an app without FCM credentials, or an unknown app, fails with what to configure', async () => {
  const bare = await channel.send(job('tok', undefined, { appId: 'bare' }));
  assert.equal(bare.status, 'failed');
  assert.match((bare as { appProblem: string }).appProblem, /PUT \/v1\/apps\/bare/);
  assert.equal((await channel.send(job('tok', undefined, { appId: 'nope' }))).status, 'failed');
});

test('many concurrent sends share a few HTTP/2 connections', async () => {
  const connections = fake.connections;
  const verdicts = await Promise.all(Array.from({ length: 600 }, (_, i) => channel.send(job(`tok-m${i}`))));
  assert.ok(verdicts.every((v) => v.status === 'sent'));
  assert.ok(fake.connections - connections <= 3, `opened ${fake.connections - connections} new connections`);
});

test('tokens are validated with validate_only when the app asks for it', async () => {
  assert.equal((await channel.validateToken('default', 'tok-valid')).status, 'sent');
  assert.equal(fake.received.at(-1)!.validateOnly, true);
  assert.equal((await channel.validateToken('default', 'invalid-x')).status, 'device-invalid');

  const sender = new FcmSender({ ca: fake.certificate.ca });
  try {
    const device = { userId: 'u1', appId: 'default', platform: 'android' as const, token: 'invalid-y' };
    assert.match((await validatePushDevice(store, device, sender))!, /registration token/);
    assert.equal(await validatePushDevice(store, { ...device, token: 'tok-good' }, sender), undefined);
    assert.equal(await validatePushDevice(store, { ...device, platform: 'web', token: 'https://push.example/x' }, sender), undefined);
    store.apps.set('novalidate', { id: 'novalidate', name: 'n', fcm: { serviceAccount: fake.account, url: fake.url } });
    assert.equal(await validatePushDevice(store, { ...device, appId: 'novalidate' }, sender), undefined);
  } finally {
    await sender.close();
  }
});

test('an unreachable FCM is a retry', async () => {
  const down = new FakeFcmServer();
  await down.start();
  const url = down.url;
  const account = down.account;
  await down.close();
  const creds = new MemoryCredentials();
  creds.apps.set('default', { id: 'default', name: 'd', fcm: { serviceAccount: account, url } });
  const ch = new FcmChannel({ credentials: creds, log: createLogger('silent') }, { ca: fake.certificate.ca });
  try {
    const verdict = await ch.send(job('tok'));
    assert.equal(verdict.status, 'retry');
  } finally {
    await ch.close();
  }
});

test('after GOAWAY the pool opens a new connection and sends go on', async () => {
  assert.equal((await channel.send(job('tok-before-goaway'))).status, 'sent');
  const connections = fake.connections;
  fake.goAway();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const verdicts = await Promise.all(Array.from({ length: 20 }, (_, i) => channel.send(job(`tok-after-goaway-${i}`))));
  assert.ok(verdicts.every((v) => v.status === 'sent'), JSON.stringify(verdicts.find((v) => v.status !== 'sent')));
  assert.ok(fake.connections > connections, 'a new connection was opened');
});

test('a response slower than the request timeout is a retry', async () => {
  const slow = new FcmChannel({ credentials: store, log: createLogger('silent') }, { ca: fake.certificate.ca, requestTimeoutMs: 200 });
  fake.delayMs = 1_000;
  try {
    const verdict = await slow.send(job('tok-slow'));
    assert.equal(verdict.status, 'retry');
  } finally {
    fake.delayMs = 0;
    await slow.close();
  }
});
