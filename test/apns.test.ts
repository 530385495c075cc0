import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { createApnsChannel, apnsIdFor, apnsOrigin, type ApnsChannelOptions } from '../src/channels/apns/index.ts';
import type { Channel, ChannelDeps, DeliveryJob } from '../src/channels/types.ts';
import type { AppCredentials, AppCredentialStore, ApnsCredentials, AppChannel } from '../src/apps/types.ts';
import { createLogger } from '../src/log/index.ts';
import { testConfig } from './helpers/app.ts';
import { createTestPki, startFakeApns, type FakeApns, type TestPki } from './fakes/apns-server.ts';
import { trackingProblems } from './helpers/app-problems.ts';

/** The APNs adapter against the fake APNs server: every verdict, both auth modes, connection trouble. */

const BUNDLE = 'com.example.app';
let pki: TestPki;
let fake: FakeApns;
let certFake: FakeApns;

class MemoryCredentials implements AppCredentialStore {
  readonly apps = new Map<string, AppCredentials>();
  readonly problems: Array<[string, AppChannel, string | undefined]> = [];
  async get(appId: string) {
    return this.apps.get(appId);
  }
  async reportProblem(appId: string, channel: AppChannel, problem: string | undefined) {
    this.problems.push([appId, channel, problem]);
  }
}

async function channelFor(apns: ApnsCredentials | undefined, options: ApnsChannelOptions = {}) {
  const credentials = new MemoryCredentials();
  credentials.apps.set('default', { id: 'default', name: 'Default', apns });
  const deps: ChannelDeps = { config: await testConfig(), log: createLogger('silent'), metrics: new Registry(), credentials };
  return { channel: trackingProblems(createApnsChannel(deps, { ca: pki.ca, ...options }), credentials), credentials };
}

function tokenCreds(extra: Partial<ApnsCredentials> = {}): ApnsCredentials {
  return { bundleId: BUNDLE, environment: 'production', url: fake.origin, teamId: 'TEAMID1234', keyId: 'KEYID12345', key: pki.tokenKey, ...extra };
}

const deviceToken = () => randomBytes(32).toString('hex');

function job(overrides: Partial<DeliveryJob> = {}, content: DeliveryJob['content'] = { title: 'Hi', body: 'There' }): DeliveryJob {
  return {
    id: crypto.randomUUID(),
    notificationId: crypto.randomUUID(),
    provider: 'apns',
    appId: 'default',
    attempt: 1,
    dueAt: new Date(),
    expiresAt: undefined,
    user: undefined,
    device: { id: 'd1', platform: 'ios', token: deviceToken() },
    content,
    ...overrides,
  };
}

before(async () => {
  pki = createTestPki();
  fake = await startFakeApns({ pki, auth: 'token', bundleId: BUNDLE });
  certFake = await startFakeApns({ pki, auth: 'certificate', bundleId: BUNDLE });
});

after(async () => {
  await fake.close();
  await certFake.close();
  pki.cleanup();
});

async function withChannel<T>(apns: ApnsCredentials | undefined, fn: (c: Channel, store: MemoryCredentials) => Promise<T>, options?: ApnsChannelOptions): Promise<T> {
  const { channel, credentials } = await channelFor(apns, options);
  try {
    return await fn(channel, credentials);
  } finally {
    await channel.close();
  }
}

test('sends an alert with the headers and payload Apple specifies', async () => {
  fake.script = () => undefined;
  await withChannel(tokenCreds(), async (channel) => {
    const expiresAt = new Date(Date.now() + 3600_000);
    const j = job({ expiresAt }, {
      title: 'T', subtitle: 'S', body: 'B', badge: 3, sound: 'ding.caf', category: 'CAT', threadId: 'th',
      mutableContent: true, interruptionLevel: 'time-sensitive', data: { orderId: 42 }, collapseId: 'c'.repeat(70),
      apns: { payload: { aps: { 'relevance-score': 0.5 }, extra: true } },
    });
    const verdict = await channel.send(j);
    assert.deepEqual(verdict, { status: 'sent', providerId: j.id });
    const got = fake.received.find((r) => r.apnsId === j.id)!;
    assert.equal(got.token, j.device!.token);
    assert.equal(got.headers['apns-topic'], BUNDLE);
    assert.equal(got.headers['apns-push-type'], 'alert');
    assert.equal(got.headers['apns-priority'], '10');
    assert.equal(got.headers['apns-expiration'], String(Math.floor(expiresAt.getTime() / 1000)));
    assert.match(String(got.headers['apns-collapse-id']), /^[0-9a-f]{64}$/); // sha256 of a >64-byte id
    assert.deepEqual(got.payload, {
      orderId: 42,
      extra: true,
      aps: {
        alert: { title: 'T', subtitle: 'S', body: 'B' }, badge: 3, sound: 'ding.caf', category: 'CAT', 'thread-id': 'th',
        'mutable-content': 1, 'interruption-level': 'time-sensitive', 'relevance-score': 0.5,
      },
    });
  });
  assert.deepEqual(fake.violations, []);
});

test('background pushes go at priority 5, VoIP to the .voip topic, no TTL means expiration 0', async () => {
  await withChannel(tokenCreds(), async (channel) => {
    const bg = job({}, { contentAvailable: true, data: { sync: 1 } });
    assert.equal((await channel.send(bg)).status, 'sent');
    const voip = job({}, { pushType: 'voip', data: { call: 'x' } });
    assert.equal((await channel.send(voip)).status, 'sent');
    const b = fake.received.find((r) => r.apnsId === bg.id)!;
    assert.equal(b.headers['apns-push-type'], 'background');
    assert.equal(b.headers['apns-priority'], '5');
    assert.equal(b.headers['apns-expiration'], '0');
    const v = fake.received.find((r) => r.apnsId === voip.id)!;
    assert.equal(v.headers['apns-topic'], `${BUNDLE}.voip`);
  });
  assert.deepEqual(fake.violations, []);
});

test('pushType background carries aps.content-available: 1 at priority 5, or Apple never wakes the app', async () => {
  await withChannel(tokenCreds(), async (channel) => {
    const bg = job({}, { pushType: 'background', data: { sync: 'inbox' } });
    assert.equal((await channel.send(bg)).status, 'sent');
    const got = fake.received.find((r) => r.apnsId === bg.id)!;
    assert.equal(got.headers['apns-push-type'], 'background');
    assert.equal(got.headers['apns-priority'], '5');
    assert.deepEqual(got.payload, { sync: 'inbox', aps: { 'content-available': 1 } });
  });
  assert.deepEqual(fake.violations, []);
});

test('apns-id is a UUID derived from the delivery id, stable across retries', () => {
  const a = apnsIdFor('delivery-123');
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(apnsIdFor('delivery-123'), a);
  assert.notEqual(apnsIdFor('delivery-124'), a);
});

test('a numeric delivery id is written into a version 8 UUID without hashing; UUIDs pass through', () => {
  assert.equal(apnsIdFor('12345'), '00000000-0000-8000-8000-000000012345');
  assert.equal(apnsIdFor('9223372036854775807'), '00000000-0009-8223-8372-036854775807');
  const ids = ['0', '1', '10', '100', '12345', '9223372036854775807', '0123', 'delivery-123'].map(apnsIdFor);
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[58][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(new Set(ids).size, ids.length, 'distinct delivery ids, distinct apns-ids');
  // A zero in front is not how PostgreSQL writes a bigint: such an id is a name, hashed.
  assert.match(apnsIdFor('0123'), /^[0-9a-f]{8}-[0-9a-f]{4}-5/);
  const uuid = crypto.randomUUID();
  assert.equal(apnsIdFor(uuid.toUpperCase()), uuid);
});

test('deliveries of one notification share its serialised payload only while their content is equal', async () => {
  await withChannel(tokenCreds(), async (channel) => {
    const notificationId = crypto.randomUUID();
    const content = (body: string): DeliveryJob['content'] => ({ title: 'Hi', body, data: { order: { id: 7, lines: [1, 2] } } });
    // Each delivery has its own copy of the content, as the engine hands them out.
    const jobs = [job({ notificationId }, content('one')), job({ notificationId }, content('one')), job({ notificationId }, content('two'))];
    jobs.push(job({ notificationId }, { ...content('two'), data: { order: { id: 7, lines: [1, 3] } } }));
    for (const j of jobs) assert.equal((await channel.send(j)).status, 'sent');
    const bodies = jobs.map((j) => fake.received.find((r) => r.apnsId === j.id)!.payload as { aps: { alert: { body: string } }; order: unknown });
    assert.deepEqual(bodies.map((b) => b.aps.alert.body), ['one', 'one', 'two', 'two']);
    assert.deepEqual(bodies.map((b) => b.order), [{ id: 7, lines: [1, 2] }, { id: 7, lines: [1, 2] }, { id: 7, lines: [1, 2] }, { id: 7, lines: [1, 3] }]);
  });
});

test('development devices go to the sandbox host unless the app overrides the URL', () => {
  const creds = { bundleId: BUNDLE, environment: 'production' as const };
  assert.equal(apnsOrigin(creds, 'production'), 'https://api.push.apple.com');
  assert.equal(apnsOrigin(creds, 'development'), 'https://api.sandbox.push.apple.com');
  assert.equal(apnsOrigin({ ...creds, url: 'https://apns-proxy.internal' }, 'development'), 'https://apns-proxy.internal');
});

test('HERALD_APNS_URL routes every app without its own URL (an egress proxy), not only the default app', async () => {
  const credentials = new MemoryCredentials();
  const { url: _none, ...noUrl } = tokenCreds();
  credentials.apps.set('other', { id: 'other', name: 'Other', apns: noUrl });
  credentials.apps.set('dev', { id: 'dev', name: 'Dev', apns: { ...noUrl, environment: 'development' } });
  const config = await testConfig({ HERALD_APNS_URL: fake.origin });
  const channel = createApnsChannel({ config, log: createLogger('silent'), metrics: new Registry(), credentials }, { ca: pki.ca });
  try {
    for (const appId of ['other', 'dev']) {
      const j = job({ appId });
      assert.deepEqual(await channel.send(j), { status: 'sent', providerId: j.id }, appId);
      assert.ok(fake.received.some((r) => r.apnsId === j.id), `${appId}: reached the origin HERALD_APNS_URL names`);
    }
  } finally {
    await channel.close();
  }
});

test('payloads over 4096 bytes (5120 for VoIP) fail before sending', async () => {
  await withChannel(tokenCreds(), async (channel) => {
    const before = fake.received.length;
    const big = await channel.send(job({}, { body: 'x'.repeat(4100) }));
    assert.equal(big.status, 'failed');
    assert.match((big as { error: string }).error, /4096 bytes/);
    const voipOk = await channel.send(job({}, { pushType: 'voip', data: { blob: 'x'.repeat(4500) } }));
    assert.equal(voipOk.status, 'sent');
    const voipBig = await channel.send(job({}, { pushType: 'voip', data: { blob: 'x'.repeat(5200) } }));
    assert.match((voipBig as { error: string }).error, /5120 bytes/);
    assert.equal(fake.received.length, before + 1);
  });
});

test('every APNs answer becomes the right verdict', async () => {
  const answers = new Map<string, { status: number; reason?: string; timestamp?: number }>();
  fake.script = (r) => answers.get(r.token);
  try {
    await withChannel(tokenCreds(), async (channel) => {
      const cases: Array<[{ status: number; reason?: string; timestamp?: number }, string, Partial<DeliveryJob>?]> = [
        [{ status: 410, reason: 'Unregistered', timestamp: Date.now() }, 'device-invalid'],
        [{ status: 410, reason: 'ExpiredToken' }, 'device-invalid'],
        [{ status: 400, reason: 'BadDeviceToken' }, 'device-invalid'],
        [{ status: 400, reason: 'DeviceTokenNotForTopic' }, 'device-invalid'],
        [{ status: 429, reason: 'TooManyRequests' }, 'retry'],
        [{ status: 500, reason: 'InternalServerError' }, 'retry'],
        [{ status: 403, reason: 'InvalidProviderToken' }, 'failed'],
        [{ status: 400, reason: 'TopicDisallowed' }, 'failed'],
        [{ status: 413, reason: 'PayloadTooLarge' }, 'failed'],
        [{ status: 400, reason: 'BadCollapseId' }, 'failed'],
      ];
      for (const [answer, expected] of cases) {
        const j = job();
        answers.set(j.device!.token, answer);
        const verdict = await channel.send(j);
        assert.equal(verdict.status, expected, `${answer.status} ${answer.reason}`);
        assert.match((verdict as { error: string }).error, new RegExp(answer.reason!));
      }
      // 410 older than the device's latest registration: the device is kept.
      const reRegistered = job({ device: { id: 'd2', platform: 'ios', token: deviceToken(), registeredAt: new Date() } });
      answers.set(reRegistered.device!.token, { status: 410, reason: 'Unregistered', timestamp: Date.now() - 60_000 });
      assert.equal((await channel.send(reRegistered)).status, 'failed');
    });
  } finally {
    fake.script = () => undefined;
  }
});

test('credential errors are failures with an app problem, cleared by the next success', async () => {
  let reject = true;
  fake.script = () => (reject ? { status: 403, reason: 'InvalidProviderToken' } : undefined);
  try {
    await withChannel(tokenCreds(), async (channel, store) => {
      const v1 = await channel.send(job());
      assert.equal(v1.status, 'failed');
      assert.match((v1 as { appProblem?: string }).appProblem ?? '', /key id, team id/);
      await channel.send(job());
      reject = false;
      assert.equal((await channel.send(job())).status, 'sent');
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(store.problems.map((p) => [p[0], p[1], p[2] === undefined ? 'cleared' : 'problem']), [
        ['default', 'apns', 'problem'],
        ['default', 'apns', 'cleared'],
      ]);
    });
  } finally {
    fake.script = () => undefined;
  }
});

test('an app without APNs credentials, or with a broken key, fails with what to configure', async () => {
  await withChannel(undefined, async (channel, store) => {
    const v = await channel.send(job());
    assert.equal(v.status, 'failed');
    assert.match((v as { appProblem?: string }).appProblem ?? '', /HERALD_APNS_/);
    assert.equal(store.problems.length, 1);
  });
  await withChannel(tokenCreds({ key: 'not a key' }), async (channel) => {
    const v = await channel.send(job());
    assert.equal(v.status, 'failed');
    assert.match((v as { appProblem?: string }).appProblem ?? '', /not usable/);
  });
});

test('the provider token is reused, renewed after 40 minutes, and on ExpiredProviderToken', async () => {
  let clock = Date.now();
  const now = () => clock;
  await withChannel(tokenCreds(), async (channel) => {
    const bearers = () => fake.received.slice(-1)[0]!.headers.authorization;
    await channel.send(job());
    const first = bearers();
    clock += 10 * 60_000;
    await channel.send(job());
    assert.equal(bearers(), first, 'reused within 20 minutes');
    clock += 31 * 60_000;
    await channel.send(job());
    const second = bearers();
    assert.notEqual(second, first, 'renewed after 40 minutes');
    // APNs says expired: a token old enough is renewed and the request retried at once.
    clock += 25 * 60_000;
    fake.rejectTokensIssuedBefore = Math.floor(clock / 1000) - 60;
    const v = await channel.send(job());
    assert.equal(v.status, 'sent');
    assert.notEqual(bearers(), second);
    fake.rejectTokensIssuedBefore = 0;
  }, { now });
});

test('TooManyProviderTokenUpdates is a retry on a new connection', async () => {
  let once = true;
  fake.script = () => (once ? ((once = false), { status: 429, reason: 'TooManyProviderTokenUpdates' }) : undefined);
  try {
    await withChannel(tokenCreds(), async (channel) => {
      const sessions = fake.sessions;
      assert.equal((await channel.send(job())).status, 'retry');
      assert.equal((await channel.send(job())).status, 'sent');
      assert.equal(fake.sessions, sessions + 2);
    });
  } finally {
    fake.script = () => undefined;
  }
});

test('503 replaces the connection and the request is retried there', async () => {
  let once = true;
  fake.script = () => (once ? ((once = false), { status: 503, reason: 'ServiceUnavailable' }) : undefined);
  try {
    await withChannel(tokenCreds(), async (channel) => {
      const sessions = fake.sessions;
      assert.equal((await channel.send(job())).status, 'sent');
      assert.equal(fake.sessions, sessions + 2);
    });
  } finally {
    fake.script = () => undefined;
  }
});

test('certificate auth: PEM pair and PKCS#12; an unknown certificate is an app problem', async () => {
  const base = { bundleId: BUNDLE, environment: 'production' as const, url: certFake.origin };
  await withChannel({ ...base, cert: pki.clientCert, privateKey: pki.clientKey }, async (channel) => {
    assert.equal((await channel.send(job())).status, 'sent');
  });
  await withChannel({ ...base, pkcs12: pki.clientP12, passphrase: pki.p12Passphrase }, async (channel) => {
    assert.equal((await channel.send(job())).status, 'sent');
  });
  await withChannel({ ...base, pkcs12: pki.clientP12, passphrase: 'wrong' }, async (channel) => {
    const v = await channel.send(job());
    assert.equal(v.status, 'failed');
    assert.match((v as { appProblem?: string }).appProblem ?? '', /not usable/);
  });
  await withChannel({ ...base, cert: pki.strangerCert, privateKey: pki.strangerKey }, async (channel) => {
    const v = await channel.send(job());
    assert.equal(v.status, 'failed');
    assert.match((v as { appProblem?: string }).appProblem ?? '', /BadCertificate/);
  });
  assert.ok(certFake.received.length >= 2);
});

test('under load: few connections, multiplexed, the stream limit respected before authentication', async () => {
  fake.maxOpenBeforeAuth = 0;
  await withChannel(tokenCreds(), async (channel) => {
    const sessions = fake.sessions;
    const verdicts = await Promise.all(Array.from({ length: 2000 }, () => channel.send(job())));
    assert.ok(verdicts.every((v) => v.status === 'sent'));
    // A second connection only once the first has all its 1000 streams busy.
    assert.ok(fake.sessions - sessions <= 2, `${fake.sessions - sessions} connections`);
    assert.equal(fake.maxOpenBeforeAuth, 1);
    assert.ok(fake.maxOpen > 100, `multiplexed (${fake.maxOpen} streams at once)`);
  });
  assert.deepEqual(fake.violations, []);
});

test('GOAWAY under load: requests move to a new connection, nothing lost or doubled', async () => {
  let n = 0;
  fake.script = () => (++n === 700 ? { goaway: true } : undefined);
  try {
    await withChannel(tokenCreds(), async (channel) => {
      const jobs = Array.from({ length: 3000 }, () => job());
      const verdicts = await Promise.all(jobs.map((j) => channel.send(j)));
      assert.deepEqual(verdicts.filter((v) => v.status !== 'sent'), []);
      for (const j of jobs) assert.equal(fake.delivered.get(j.id), 1, 'delivered exactly once');
    });
  } finally {
    fake.script = () => undefined;
  }
});

test('a dropped connection under load: requests move on; duplicates only within the in-flight window', async () => {
  let n = 0;
  fake.script = () => (++n === 1200 ? { drop: true } : undefined);
  try {
    await withChannel(tokenCreds(), async (channel) => {
      const jobs = Array.from({ length: 3000 }, () => job());
      const verdicts = await Promise.all(jobs.map((j) => channel.send(j)));
      assert.deepEqual(verdicts.filter((v) => v.status !== 'sent'), []);
      const missing = jobs.filter((j) => !fake.delivered.get(j.id));
      assert.deepEqual(missing, []);
      const twice = jobs.filter((j) => (fake.delivered.get(j.id) ?? 0) > 1).length;
      assert.ok(twice <= 1000, `${twice} doubled, at most one connection's streams`);
    });
  } finally {
    fake.script = () => undefined;
  }
});

test('a stalled request times out as a retry', async () => {
  fake.script = () => ({ stall: true });
  try {
    await withChannel(tokenCreds(), async (channel) => {
      const v = await channel.send(job());
      assert.equal(v.status, 'retry');
      assert.match((v as { error: string }).error, /in time/);
    }, { requestTimeoutMs: 300 });
  } finally {
    fake.script = () => undefined;
  }
});

test('an unreachable APNs is a retry, not a rejection', async () => {
  await withChannel(tokenCreds({ url: 'https://127.0.0.1:1' }), async (channel) => {
    const v = await channel.send(job());
    assert.equal(v.status, 'retry');
    assert.match((v as { error: string }).error, /cannot connect/);
  });
});
