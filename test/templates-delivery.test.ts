import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { createApnsChannel } from '../src/channels/apns/index.ts';
import { buildFcmMessage } from '../src/channels/fcm/message.ts';
import { webPushPayload } from '../src/channels/webpush/message.ts';
import { MAX_PLAINTEXT_BYTES } from '../src/channels/webpush/encrypt.ts';
import { composeEmail } from '../src/channels/email/message.ts';
import { fitBody } from '../src/channels/fit.ts';
import type { ChannelDeps, DeliveryJob, Provider } from '../src/channels/types.ts';
import type { AppCredentials, AppCredentialStore } from '../src/apps/types.ts';
import { renderDelivery, withTemplates, type TemplateSource } from '../src/dispatch/render-step.ts';
import { CompiledTemplate } from '../src/templates/render.ts';
import { checkDefinition } from '../src/templates/compile.ts';
import type { TemplateDefinition } from '../src/templates/types.ts';
import { createLogger } from '../src/log/index.ts';
import { testConfig } from './helpers/app.ts';
import { createTestPki, startFakeApns, type FakeApns, type TestPki } from './fakes/apns-server.ts';

/**
 * The render step against the real payload builders and the fake APNs server (which refuses
 * payloads over Apple's limits with 413 PayloadTooLarge, as APNs does): a long rendering is
 * shortened to fit, never cut mid-JSON; HTML reaches the e-mail escaped.
 */

const BUNDLE = 'com.example.app';
let pki: TestPki;
let fake: FakeApns;

const DEFINITION: TemplateDefinition = {
  variables: { text: { type: 'string', required: true }, name: { type: 'string' } },
  defaultLocale: 'en',
  locales: { en: { push: { title: 'For {name}', body: 'Note: {text}' }, email: { subject: 'Hi {name}', html: '<p>Hi {name}</p><div>{text}</div>', text: 'Hi {name}: {text}' } } },
};
assert.deepEqual(checkDefinition(DEFINITION), []);
const source: TemplateSource = { get: async (_app, key, version) => (key === 'note' && version === 1 ? new CompiledTemplate(key, 1, DEFINITION) : undefined) };

// Two-byte letters, four-byte emoji and a combining sequence: fitting counts bytes and cuts between graphemes.
const LONG = 'Grüße aus Köln 👩‍👩‍👧 '.repeat(400);

function job(provider: Provider, data: Record<string, unknown>, extra: Partial<DeliveryJob['content']> = {}): DeliveryJob {
  return {
    id: crypto.randomUUID(),
    notificationId: crypto.randomUUID(),
    provider,
    appId: 'default',
    attempt: 1,
    dueAt: new Date(),
    expiresAt: undefined,
    user: { id: 'u1', email: 'ann@example.org', name: 'Ann', locale: 'en' },
    device: provider === 'webpush'
      ? { id: 'd1', platform: 'web', token: 'https://push.example/x', subscription: { endpoint: 'https://push.example/x', keys: { p256dh: 'p', auth: 'a' } } }
      : { id: 'd1', platform: provider === 'apns' ? 'ios' : 'android', token: randomBytes(32).toString('hex') },
    content: { ...extra, template: { appId: 'default', key: 'note', version: 1, data } } as DeliveryJob['content'],
  };
}

class OneApp implements AppCredentialStore {
  async get(): Promise<AppCredentials> {
    return { id: 'default', name: 'Default', apns: { bundleId: BUNDLE, environment: 'production', url: fake.origin, teamId: 'TEAMID1234', keyId: 'KEYID12345', key: pki.tokenKey } };
  }
  async reportProblem(): Promise<void> {}
}

before(async () => {
  pki = createTestPki();
  fake = await startFakeApns({ pki, auth: 'token', bundleId: BUNDLE });
});
after(async () => {
  await fake.close();
  pki.cleanup();
});

test('an over-long rendered body is shortened to fit APNs’ 4 KB (5 KB for VoIP) and the push is accepted', async () => {
  const deps: ChannelDeps = { config: await testConfig(), log: createLogger('silent'), metrics: new Registry(), credentials: new OneApp() };
  const apns = createApnsChannel(deps, { ca: pki.ca });
  const channel = withTemplates(new Map([['apns', apns]]), source).get('apns')!;
  try {
    for (const [pushType, limit] of [['alert', 4096], ['voip', 5120]] as const) {
      const j = job('apns', { text: LONG, name: 'Ann' }, { pushType });
      const verdict = await channel.send(j);
      assert.equal(verdict.status, 'sent', JSON.stringify(verdict));
      const got = fake.received.find((r) => r.token === j.device!.token)!;
      const raw = JSON.stringify(got.payload);
      const bytes = Buffer.byteLength(raw);
      assert.ok(bytes <= limit && bytes > limit - 64, `${pushType}: ${bytes} bytes, just under ${limit}`);
      const alert = (got.payload!.aps as { alert: { title: string; body: string } }).alert;
      assert.equal(alert.title, 'For Ann');
      assert.ok(alert.body.endsWith('…'), 'an ellipsis marks the cut');
      assert.ok(`Note: ${LONG}`.startsWith(alert.body.slice(0, -1)), 'the body is a prefix of the rendering');
      assert.ok(!/\uFFFD/.test(alert.body) && !/[\uD800-\uDBFF]…$/.test(alert.body), 'no character is split');
    }
    // The same text given literally is not shortened: APNs' limit answers it, as before.
    const literal = { ...job('apns', {}), content: { title: 'For Ann', body: `Note: ${LONG}` } };
    const refused = await channel.send(literal);
    assert.equal(refused.status, 'failed');
    assert.match((refused as { error: string }).error, /at most 4096 bytes/);
  } finally {
    await apns.close();
  }
});

test('FCM and Web Push renderings are fitted with their own payload builders', async () => {
  const fcm = await renderDelivery(job('fcm', { text: LONG, name: 'Ann' }), source);
  assert.ok(fcm.ok);
  const { token: _token, ...message } = buildFcmMessage(fcm.job, 'tok');
  assert.ok(Buffer.byteLength(JSON.stringify(message)) <= 4096);
  assert.ok(fcm.job.content.body!.endsWith('…'));
  const web = await renderDelivery(job('webpush', { text: LONG, name: 'Ann' }), source);
  assert.ok(web.ok);
  const payload = webPushPayload(web.job);
  assert.ok(payload.length <= MAX_PLAINTEXT_BYTES && payload.length > MAX_PLAINTEXT_BYTES - 64, `${payload.length}`);
  assert.equal((JSON.parse(payload.toString('utf8')) as { title: string }).title, 'For Ann');
  const short = await renderDelivery(job('fcm', { text: 'short', name: 'Ann' }), source);
  assert.ok(short.ok);
  assert.equal(short.job.content.body, 'Note: short', 'what fits is left alone');
});

test('fitBody keeps whole graphemes and gives up only when nothing but the body could be cut', () => {
  const fits = (max: number) => (s: string) => Buffer.byteLength(s) <= max;
  assert.equal(fitBody('hello world', fits(100)), 'hello world');
  assert.equal(fitBody('hello world', fits(9)), 'hello…');
  assert.equal(fitBody('👩‍👩‍👧👩‍👩‍👧', fits(24)), '👩‍👩‍👧…');
  assert.equal(fitBody('abc', (s) => s.length < 0), undefined);
});

test('HTML injection through a variable arrives escaped in the e-mail', async () => {
  const attack = '<script>steal(document.cookie)</script><img src=x onerror="alert(1)">';
  const prepared = await renderDelivery(job('email', { text: attack, name: '"Ann" & <co>' }), source);
  assert.ok(prepared.ok);
  const mail = composeEmail(prepared.job, 'Herald <no-reply@herald.example>', 'ann@example.org');
  assert.equal(mail.html, '<p>Hi &quot;Ann&quot; &amp; &lt;co&gt;</p><div>&lt;script&gt;steal(document.cookie)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</div>');
  assert.equal(mail.subject, 'Hi "Ann" & <co>');
  assert.equal(mail.text, `Hi "Ann" & <co>: ${attack}`);
});

test('a pinned version that is gone fails the delivery; a database error retries it', async () => {
  const gone = await renderDelivery({ ...job('fcm', {}), content: { template: { appId: 'default', key: 'note', version: 2, data: {} } } as DeliveryJob['content'] }, source);
  assert.deepEqual(gone, { ok: false, verdict: { status: 'failed', error: 'TEMPLATE_RENDER_FAILED: version 2 of template "note" does not exist in app default' } });
  const down: TemplateSource = { get: async () => { throw new Error('connection terminated'); } };
  const retried = await renderDelivery(job('fcm', { text: 'x' }), down);
  assert.equal(retried.ok, false);
  assert.equal(!retried.ok && retried.verdict.status, 'retry');
});
