/**
 * Threats from URLs that others choose: an end user's Web Push endpoint and an app's webhook URL.
 * herald POSTs to them, so without a policy they reach herald's own network (server-side request
 * forgery), and whatever answers must not be handed back to the end user or be taken as news
 * about the app's credentials. docs/security.md describes each threat and its defence.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { createHarness, TEST_JWT_SECRET, type TestHarness } from './helpers/app.ts';
import { startEngine, eventually, webhookSink, type RunningEngine } from './helpers/engine.ts';
import { FakeWebPushServer } from './fakes/webpush-server.ts';
import { WebPushChannel, generateVapidKeys } from '../src/channels/webpush/index.ts';
import { createWebhookChannel } from '../src/channels/webhook/index.ts';
import { DeviceService } from '../src/devices/index.ts';
import { OutboundPolicy, type ResolvedAddress } from '../src/outbound/index.ts';
import { loadConfig, ConfigError } from '../src/config/index.ts';

const VAPID = generateVapidKeys();
const VAPID_ENV = { HERALD_VAPID_PUBLIC_KEY: VAPID.publicKey, HERALD_VAPID_PRIVATE_KEY: VAPID.privateKey, HERALD_VAPID_SUBJECT: 'mailto:ops@example.com' };
const keys = { p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM', auth: 'tBHItJI5svbpez7KI4CCXg' };

const userToken = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));

type Delivery = Record<string, unknown>;
async function settled(h: TestHarness, id: string, done = (d: Delivery) => !['pending', 'sending'].includes(String(d.status))): Promise<Delivery[]> {
  return eventually(async () => {
    const n = (await h.request({ url: `/v1/notifications/${id}` })).json() as { deliveries: Delivery[] };
    return n.deliveries.length > 0 && n.deliveries.every(done) ? n.deliveries : undefined;
  }, 15_000, `notification ${id} to settle`);
}

describe("SSRF: URLs aimed at herald's own network are refused when they are given", () => {
  let strict: TestHarness;
  before(async () => {
    // No HERALD_OUTBOUND_ALLOW: the policy as a fresh deployment has it.
    strict = await createHarness({ HERALD_OUTBOUND_ALLOW: '' });
  });
  after(async () => {
    await strict.close();
  });

  const REFUSED_ENDPOINTS = [
    'https://127.0.0.1/push',
    'https://127.1:8443/push', // the URL parser's short form of 127.0.0.1
    'https://2130706433/push', // and its integer form
    'https://0x7f000001/push',
    'https://[::1]/push',
    'https://[::ffff:127.0.0.1]/push', // IPv4-mapped IPv6
    'https://0.0.0.0/push',
    'https://10.0.0.5/push',
    'https://172.16.3.4/push',
    'https://192.168.1.1/push',
    'https://100.64.0.1/push', // carrier-grade NAT (Alibaba's metadata service lives in it)
    'https://169.254.169.254/latest/meta-data/', // AWS, GCP, Azure metadata
    'https://[fd00:ec2::254]/latest/meta-data/', // AWS metadata over IPv6 (unique-local)
    'https://[fe80::1]/push',
    'https://224.0.0.1/push',
    'https://localhost:9200/push',
    'https://elastic.localhost/push',
    'https://metadata.google.internal/computeMetadata/v1/',
    'https://redis:6379/push', // a bare name resolves through Kubernetes' search domains
    'https://postgres.default.svc.cluster.local/push',
  ];

  it('an end user registering a Web Push endpoint on loopback, private, link-local, unique-local, metadata or internal names gets 422 ENDPOINT_NOT_ALLOWED and no device', async () => {
    const auth = { authorization: `Bearer ${await userToken('mallory')}` };
    for (const endpoint of REFUSED_ENDPOINTS) {
      const res = await strict.app.inject({ method: 'POST', url: '/v1/me/devices', headers: auth, payload: { platform: 'web', subscription: { endpoint, keys } } });
      assert.equal(res.statusCode, 422, `${endpoint}: ${res.body}`);
      const error = res.json().error as { code: string; details: Array<{ field: string }> };
      assert.equal(error.code, 'ENDPOINT_NOT_ALLOWED', endpoint);
      assert.equal(error.details[0]!.field, 'body.subscription.endpoint');
    }
    const devices = await strict.app.inject({ url: '/v1/me/devices', headers: auth });
    assert.deepEqual(devices.json().items, []);
    // A push service on the internet is what endpoints are for.
    const ok = await strict.app.inject({ method: 'POST', url: '/v1/me/devices', headers: auth, payload: { platform: 'web', subscription: { endpoint: 'https://fcm.googleapis.com/fcm/send/abc:def', keys } } });
    assert.equal(ok.statusCode, 201, ok.body);
  });

  it('an API key cannot aim a device, a raw to.device target or an app webhook at internal addresses either (422 ENDPOINT_NOT_ALLOWED, nothing stored)', async () => {
    const device = await strict.request({ method: 'POST', url: '/v1/users/ada/devices', payload: { platform: 'web', subscription: { endpoint: 'https://169.254.169.254/', keys } } });
    assert.equal(device.statusCode, 422);
    assert.equal(device.json().error.code, 'ENDPOINT_NOT_ALLOWED');

    const raw = await strict.request({ method: 'POST', url: '/v1/notifications', payload: { to: { device: { platform: 'web', subscription: { endpoint: 'https://[::1]:8080/', keys } } }, title: 'x' } });
    assert.equal(raw.statusCode, 422, raw.body);
    assert.equal(raw.json().error.details[0].field, 'body.to.device.subscription.endpoint');
    const { rows } = await strict.db.pool.query(`SELECT count(*)::int AS n FROM notifications`);
    assert.equal(rows[0].n, 0);

    for (const url of ['http://127.0.0.1:6379/', 'http://169.254.169.254/latest/api/token', 'http://10.1.2.3:8500/v1/kv', 'http://metadata.google.internal/']) {
      const res = await strict.request({ method: 'PUT', url: '/v1/apps/hooked', payload: { name: 'Hooked', webhook: { url, secret: 's' } } });
      assert.equal(res.statusCode, 422, `${url}: ${res.body}`);
      assert.equal(res.json().error.code, 'ENDPOINT_NOT_ALLOWED');
      assert.equal(res.json().error.details[0].field, 'body.webhook.url');
    }
    assert.equal((await strict.request({ url: '/v1/apps/hooked' })).statusCode, 404);
  });

  it('HERALD_OUTBOUND_ALLOW lets an operator allow named hosts and CIDR ranges, and nothing else; a malformed entry stops start-up naming the variable', async () => {
    const policy = new OutboundPolicy(['hooks.corp.example', '10.1.0.0/16', 'fd12::/16']);
    assert.equal(policy.checkUrl('https://hooks.corp.example/in'), undefined);
    assert.equal(policy.checkUrl('https://10.1.200.3/in'), undefined);
    assert.equal(policy.checkUrl('https://[fd12::9]/in'), undefined);
    assert.equal(policy.checkUrl('https://10.2.0.1/in')?.category, 'private');
    assert.equal(policy.checkUrl('https://127.0.0.1/in')?.category, 'loopback');
    assert.equal(policy.checkUrl('https://other.corp.internal/in')?.category, 'internal-name');
    assert.equal(policy.checkAddress('10.1.4.4', 'anything.example'), undefined);
    assert.equal(policy.checkAddress('169.254.169.254', 'hooks.evil.example')?.category, 'linkLocal');

    assert.throws(() => loadConfig({ HERALD_OUTBOUND_ALLOW: '10.0.0.0/99' }), (err: unknown) => err instanceof ConfigError && /HERALD_OUTBOUND_ALLOW/.test(err.message));
    assert.throws(() => loadConfig({ HERALD_OUTBOUND_ALLOW: 'http://x/' }), ConfigError);
    assert.deepEqual(loadConfig({ HERALD_OUTBOUND_ALLOW: 'hooks.corp.example, 10.1.0.0/16' }).outbound.allow, ['hooks.corp.example', '10.1.0.0/16']);
  });
});

describe('SSRF: every connection is checked again on the address it uses (DNS rebinding)', () => {
  let h: TestHarness;
  let fake: FakeWebPushServer;
  let engine: RunningEngine;
  let sink: Awaited<ReturnType<typeof webhookSink>>;
  /** What the resolver answers for these names: a "public" name that resolves to loopback at send time. */
  const DNS: Record<string, ResolvedAddress[]> = {
    'push.rebind.example': [{ address: '127.0.0.1', family: 4 }],
    'hooks.rebind.example': [{ address: '93.184.215.14', family: 4 }, { address: '127.0.0.1', family: 4 }],
    'hooks.allowed.example': [{ address: '127.0.0.1', family: 4 }],
  };
  const resolve = async (host: string): Promise<ResolvedAddress[]> => {
    const answer = DNS[host];
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answer;
  };

  before(async () => {
    fake = await new FakeWebPushServer().start();
    sink = await webhookSink();
    h = await createHarness({ ...VAPID_ENV, HERALD_OUTBOUND_ALLOW: '' });
    // The channels as the worker builds them, with the one allowance an operator made.
    const outbound = new OutboundPolicy(['hooks.allowed.example'], { resolve });
    const deps = { config: h.ctx.config, log: h.ctx.log, metrics: h.ctx.metrics, credentials: h.services.credentials, outbound };
    const webpush = new WebPushChannel({ credentials: h.services.credentials, log: h.ctx.log, outbound }, { ca: fake.certificate.ca });
    engine = await startEngine(h, [webpush, createWebhookChannel(deps)]);
  });
  after(async () => {
    await engine.stop();
    await h.close();
    await fake.close();
    await sink.close();
  });

  it('a Web Push endpoint whose public-looking name resolves to loopback at send time is refused on connect: the service behind it gets nothing and the delivery fails at once', async () => {
    const sub = fake.subscribe(VAPID.publicKey);
    const endpoint = sub.endpoint.replace('localhost', 'push.rebind.example');
    const reg = await h.request({ method: 'POST', url: '/v1/users/rebind/devices', payload: { platform: 'web', subscription: { endpoint, keys: sub.keys } } });
    assert.equal(reg.statusCode, 201, reg.body); // a name is not judged until it is resolved
    const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'rebind' }, title: 'x', channels: ['push'] } });
    const [d] = await settled(h, res.json().id as string);
    assert.equal(d!.status, 'failed');
    assert.equal(d!.attempts, 1, 'not retried');
    assert.equal(d!.lastError, 'the push endpoint is not allowed by this server');
    assert.match(String(d!.lastErrorDetail), /push\.rebind\.example resolves to 127\.0\.0\.1, which is a loopback address/);
    assert.equal(fake.connections, 0);
    assert.equal(fake.received.length, 0);
  });

  it('an endpoint stored before the policy (an IP literal) is refused at send time too', async () => {
    const sub = fake.subscribe(VAPID.publicKey);
    const lax = new DeviceService(h.db.pool, () => h.services.hooks, new OutboundPolicy(['127.0.0.0/8']));
    await lax.register('old', { platform: 'web', subscription: { endpoint: sub.endpoint.replace('localhost', '127.0.0.1'), keys: sub.keys } });
    const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'old' }, title: 'x', channels: ['push'] } });
    const [d] = await settled(h, res.json().id as string);
    assert.equal(d!.status, 'failed');
    assert.match(String(d!.lastErrorDetail), /127\.0\.0\.1 is a loopback address/);
    assert.equal(fake.connections, 0);
  });

  it('a webhook host with one private address among public ones is refused (an app problem naming HERALD_OUTBOUND_ALLOW); an allowed host is reached through the same resolver', async () => {
    const port = new URL(sink.url).port;
    await h.request({ method: 'PUT', url: '/v1/apps/rebind', payload: { name: 'Rebind', webhook: { url: `http://hooks.rebind.example:${port}/hook` } } });
    await h.request({ method: 'PUT', url: '/v1/apps/allowed', payload: { name: 'Allowed', webhook: { url: `http://hooks.allowed.example:${port}/hook` } } });
    const bad = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'hooked' }, appId: 'rebind', title: 'x', channels: ['webhook'] } });
    const [d] = await settled(h, bad.json().id as string);
    assert.equal(d!.status, 'failed');
    assert.equal(sink.received.length, 0);
    const app = (await h.request({ url: '/v1/apps/rebind' })).json() as { status: Record<string, { problem: string }> };
    assert.match(app.status.webhook!.problem, /127\.0\.0\.1.*loopback.*HERALD_OUTBOUND_ALLOW/);

    const good = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'hooked' }, appId: 'allowed', title: 'y', channels: ['webhook'] } });
    const [ok] = await settled(h, good.json().id as string);
    assert.equal(ok!.status, 'sent');
    assert.equal(sink.received.length, 1);
  });
});

describe('what an endpoint answers stays with operators', () => {
  let h: TestHarness;
  let fake: FakeWebPushServer;
  let engine: RunningEngine;
  before(async () => {
    fake = await new FakeWebPushServer().start();
    // The fake listens on loopback: allowed by the test configuration's HERALD_OUTBOUND_ALLOW.
    h = await createHarness(VAPID_ENV);
    const webpush = new WebPushChannel({ credentials: h.services.credentials, log: h.ctx.log, outbound: new OutboundPolicy(h.ctx.config.outbound.allow) }, { ca: fake.certificate.ca });
    engine = await startEngine(h, [webpush]);
  });
  after(async () => {
    await engine.stop();
    await h.close();
    await fake.close();
  });

  const SECRET = 'ami-id: i-0abc; AccessKeyId: ASIAEXAMPLE; db_password=hunter2';

  it("the push endpoint's answer body never reaches the end user (lastError, events, device), only operators' lastErrorDetail", async () => {
    const eve = { authorization: `Bearer ${await userToken('eve')}` };
    const sub = fake.subscribe(VAPID.publicKey);
    const reg = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: eve, payload: { platform: 'web', subscription: { endpoint: sub.endpoint, keys: sub.keys } } });
    assert.equal(reg.statusCode, 201, reg.body);
    fake.failNext(sub.id, { status: 400, body: SECRET }, { status: 404, body: `${SECRET} (gone)` });

    const first = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'eve' }, title: 'one', channels: ['push'] } });
    const id = first.json().id as string;
    await settled(h, id);
    const second = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'eve' }, title: 'two', channels: ['push'] } });
    await settled(h, second.json().id as string);

    const mine = await h.app.inject({ url: `/v1/me/notifications/${id}`, headers: eve });
    assert.equal(mine.statusCode, 200);
    assert.equal(mine.json().deliveries[0].lastError, 'push service answered 400');
    for (const url of [`/v1/me/notifications/${id}`, '/v1/me/notifications', '/v1/me/events', '/v1/me/devices']) {
      const body = (await h.app.inject({ url, headers: eve })).body;
      assert.ok(!body.includes('hunter2') && !body.includes('ASIAEXAMPLE'), `${url} shows the endpoint's answer: ${body}`);
    }
    const device = (await h.app.inject({ url: '/v1/me/devices', headers: eve })).json().items[0] as Record<string, unknown>;
    assert.equal(device.status, 'invalid');
    assert.equal(device.invalidReason, 'push service answered 404');

    const operator = (await h.request({ url: `/v1/notifications/${id}` })).json() as { deliveries: Delivery[] };
    assert.equal(operator.deliveries[0]!.lastErrorDetail, SECRET);
    const adminList = (await h.request({ url: '/v1/users/eve/notifications' })).json() as { items: Array<{ deliveries: Delivery[] }> };
    assert.ok(adminList.items.some((n) => String(n.deliveries[0]?.lastErrorDetail).includes('hunter2')));
  });

  it('the error texts an end user sees do not name addresses, ports or network errors (no port scanning through lastError)', async () => {
    const closed = await new FakeWebPushServer().start();
    const sub = closed.subscribe(VAPID.publicKey);
    await closed.close(); // nothing listens on its port any more
    const reg = await h.request({ method: 'POST', url: '/v1/users/scanner/devices', payload: { platform: 'web', subscription: { endpoint: sub.endpoint, keys: sub.keys } } });
    assert.equal(reg.statusCode, 201);
    const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'scanner' }, title: 'x', channels: ['push'] } });
    const id = res.json().id as string;
    const [d] = await settled(h, id, (x) => Number(x.attempts) >= 1 && x.status === 'pending');
    const port = new URL(sub.endpoint).port;
    const token = { authorization: `Bearer ${await userToken('scanner')}` };
    const mine = (await h.app.inject({ url: `/v1/me/notifications/${id}`, headers: token })).json().deliveries[0] as Delivery;
    assert.equal(mine.lastError, 'Web Push: the push service could not be reached');
    assert.ok(!String(mine.lastError).includes(port) && !/ECONN|refused/i.test(String(mine.lastError)));
    assert.match(String(d!.lastErrorDetail), /ECONNREFUSED/);
    await h.request({ method: 'DELETE', url: '/v1/users/scanner' });
  });

  it("an end user's endpoint answering 401 or 403 does not mark the app's credentials as having a problem", async () => {
    const other = generateVapidKeys();
    const mismatched = fake.subscribe(other.publicKey); // the push service answers 403
    const refusing = fake.subscribe(VAPID.publicKey);
    fake.failNext(refusing.id, { status: 401, body: 'unauthorized' });
    for (const [user, sub] of [['m1', mismatched], ['m2', refusing]] as const) {
      const auth = { authorization: `Bearer ${await userToken(user)}` };
      const reg = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: auth, payload: { platform: 'web', subscription: { endpoint: sub.endpoint, keys: sub.keys } } });
      assert.equal(reg.statusCode, 201);
    }
    const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userIds: ['m1', 'm2'] }, title: 'x', channels: ['push'] } });
    const deliveries = await settled(h, res.json().id as string);
    assert.deepEqual(deliveries.map((d) => d.status), ['failed', 'failed']);
    const app = (await h.request({ url: '/v1/apps/default' })).json() as { status: Record<string, unknown> };
    assert.equal(app.status.webpush, undefined, `the app shows a problem: ${JSON.stringify(app.status)}`);
  });
});
