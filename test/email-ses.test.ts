/**
 * The e-mail channel through AWS SES v2 (the real @aws-sdk/client-sesv2 code path) against a
 * fake SES endpoint that checks SigV4 signatures: request shape and every verdict.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { loadConfig } from '../src/config/index.ts';
import { createLogger } from '../src/log/index.ts';
import type { AppChannel, AppCredentials, AppCredentialStore } from '../src/apps/types.ts';
import type { Channel, ChannelDeps, DeliveryJob, Verdict } from '../src/channels/types.ts';
import { createEmailChannel } from '../src/channels/email/index.ts';
import { startFakeSes, type FakeSes } from './fakes/ses-server.ts';
import { trackingProblems } from './helpers/app-problems.ts';

const KEY = { accessKeyId: 'AKIAHERALDTEST000001', secretAccessKey: 'herald-test-secret/0123456789abcdefABCDEF' };

class MemoryCredentials implements AppCredentialStore {
  readonly apps = new Map<string, AppCredentials>();
  readonly problems = new Map<string, string | undefined>();
  async get(appId: string): Promise<AppCredentials | undefined> {
    return this.apps.get(appId);
  }
  async reportProblem(appId: string, channel: AppChannel, problem: string | undefined): Promise<void> {
    this.problems.set(`${appId}/${channel}`, problem);
  }
}

function deps(credentials: AppCredentialStore, env: Record<string, string> = {}): ChannelDeps {
  return { config: loadConfig({ HERALD_LOG_LEVEL: 'silent', ...env }), log: createLogger('silent'), metrics: new Registry(), credentials };
}

let seq = 0;
function job(overrides: Partial<DeliveryJob> = {}): DeliveryJob {
  seq++;
  return {
    id: `0193d5c2-2222-7000-8000-${String(seq).padStart(12, '0')}`,
    notificationId: `0193d5c2-3333-7000-8000-${String(seq).padStart(12, '0')}`,
    provider: 'email',
    appId: 'shop',
    attempt: 1,
    dueAt: new Date(),
    expiresAt: undefined,
    user: { id: 'u1', email: 'ann@example.org', name: 'Ann' },
    device: undefined,
    content: { title: 'Your order', body: 'Shipped <script>x()</script>', url: 'https://shop.example/o/1' },
    ...overrides,
  };
}

const errorOf = (v: Verdict): string => (v.status === 'sent' ? '' : v.error);
const problemOf = (v: Verdict): string | undefined => (v.status === 'retry' || v.status === 'failed' ? v.appProblem : undefined);

describe('e-mail through SES v2', () => {
  let ses: FakeSes;
  let creds: MemoryCredentials;
  let channel: Channel;

  before(async () => {
    ses = await startFakeSes({ [KEY.accessKeyId]: KEY.secretAccessKey });
    creds = new MemoryCredentials();
    creds.apps.set('shop', { id: 'shop', name: 'Shop', email: { from: 'Shop <orders@shop.example>', ses: { region: 'eu-west-1' } } });
    channel = trackingProblems(createEmailChannel(deps(creds), { ses: { endpoint: ses.url, credentials: KEY } }), creds);
  });
  after(async () => {
    await channel.close();
    await ses.close();
  });

  test('SendEmail carries sender, recipient, template parts and herald headers', async () => {
    const j = job();
    const verdict = await channel.send(j);
    const request = ses.requests.at(-1)!;
    assert.deepEqual(verdict, { status: 'sent', providerId: request.messageId });
    assert.equal(request.region, 'eu-west-1', 'signed for the app region');
    assert.equal(request.accessKeyId, KEY.accessKeyId);
    assert.equal(request.body.FromEmailAddress, 'Shop <orders@shop.example>');
    assert.deepEqual(request.body.Destination?.ToAddresses, ['ann@example.org']);
    const simple = request.body.Content?.Simple;
    assert.equal(simple?.Subject?.Data, 'Your order');
    assert.match(simple?.Body?.Text?.Data ?? '', /^Hi Ann,\n\nYour order\n\nShipped <script>x\(\)<\/script>/);
    const html = simple?.Body?.Html?.Data ?? '';
    assert.ok(html.includes('Shipped &lt;script&gt;x()&lt;/script&gt;'));
    assert.ok(!html.includes('<script>'));
    const headers = Object.fromEntries((simple?.Headers ?? []).map((h) => [h.Name, h.Value]));
    assert.equal(headers['X-Herald-Delivery-Id'], j.id);
    assert.equal(headers['X-Herald-Notification-Id'], j.notificationId);
  });

  test('own subject and HTML only', async () => {
    assert.equal((await channel.send(job({ content: { title: 't', email: { subject: 'S', html: '<b>hi</b>' } } }))).status, 'sent');
    const simple = ses.requests.at(-1)!.body.Content?.Simple;
    assert.equal(simple?.Subject?.Data, 'S');
    assert.equal(simple?.Body?.Html?.Data, '<b>hi</b>');
    assert.equal(simple?.Body?.Text, undefined);
  });

  test('throttling and server errors are retried, Retry-After honoured', async () => {
    ses.script({ status: 429, type: 'TooManyRequestsException', message: 'Maximum sending rate exceeded.', retryAfterSeconds: 7 });
    const throttled = await channel.send(job());
    assert.equal(throttled.status, 'retry');
    assert.equal(throttled.status === 'retry' ? throttled.retryAfterMs : 0, 7000);
    assert.match(errorOf(throttled), /TooManyRequestsException/);

    ses.script({ status: 400, type: 'LimitExceededException', message: 'Daily message quota exceeded.' });
    const quota = await channel.send(job());
    assert.equal(quota.status, 'retry');
    assert.match(errorOf(quota), /LimitExceeded/);

    ses.script({ status: 500, type: 'InternalServiceErrorException' }, { status: 503, type: 'ServiceUnavailable' });
    assert.equal((await channel.send(job())).status, 'retry');
    assert.equal((await channel.send(job())).status, 'retry');

    ses.script('hangup');
    assert.equal((await channel.send(job())).status, 'retry');
  });

  test('MessageRejected fails for good, without blaming the app', async () => {
    ses.script({ status: 400, type: 'MessageRejected', message: 'Email address is not verified.' });
    const verdict = await channel.send(job());
    assert.equal(verdict.status, 'failed');
    assert.match(errorOf(verdict), /MessageRejected: Email address is not verified/);
    assert.equal(problemOf(verdict), undefined);
  });

  test('a paused account fails with an appProblem', async () => {
    ses.script({ status: 400, type: 'SendingPausedException', message: 'Email sending is disabled.' });
    const verdict = await channel.send(job());
    assert.equal(verdict.status, 'failed');
    assert.match(problemOf(verdict) ?? '', /SES \(eu-west-1\) cannot send for this app: SendingPausedException/);
    assert.equal(creds.problems.get('shop/email'), problemOf(verdict));
    // ...and the next success clears it.
    assert.equal((await channel.send(job())).status, 'sent');
    assert.equal(creds.problems.get('shop/email'), undefined);
  });

  test('an app without e-mail configuration is an appProblem', async () => {
    creds.apps.set('empty', { id: 'empty', name: 'Empty' });
    const verdict = await channel.send(job({ appId: 'empty' }));
    assert.equal(verdict.status, 'failed');
    assert.match(problemOf(verdict) ?? '', /ses: \{region\}/);
  });
});

describe('SES credentials and reachability', () => {
  let ses: FakeSes;
  before(async () => {
    ses = await startFakeSes({ [KEY.accessKeyId]: KEY.secretAccessKey });
  });
  after(async () => {
    await ses.close();
  });

  async function sendWith(options: Parameters<typeof createEmailChannel>[1], env: Record<string, string> = {}): Promise<{ verdict: Verdict; creds: MemoryCredentials }> {
    const creds = new MemoryCredentials();
    creds.apps.set('default', { id: 'default', name: 'Default' });
    const channel = trackingProblems(createEmailChannel(deps(creds, { HERALD_EMAIL_FROM: 'env@herald.example', HERALD_SES_REGION: 'us-east-2', ...env }), options), creds);
    try {
      return { verdict: await channel.send(job({ appId: 'default' })), creds };
    } finally {
      await channel.close();
    }
  }

  test('a wrong secret key is refused by the signature check: failed with appProblem', async () => {
    const { verdict, creds } = await sendWith({ ses: { endpoint: ses.url, credentials: { ...KEY, secretAccessKey: 'wrong' } } });
    assert.equal(verdict.status, 'failed');
    assert.match(problemOf(verdict) ?? '', /SES \(us-east-2\) refused the AWS credentials: InvalidSignatureException/);
    assert.equal(creds.problems.get('default/email'), problemOf(verdict));
  });

  test('an unknown access key: failed with appProblem', async () => {
    const { verdict } = await sendWith({ ses: { endpoint: ses.url, credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' } } });
    assert.equal(verdict.status, 'failed');
    assert.match(problemOf(verdict) ?? '', /UnrecognizedClientException/);
  });

  test('the default app uses HERALD_SES_REGION with AWS_ENDPOINT_URL and the standard credential variables', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ENDPOINT_URL: ses.url, AWS_ACCESS_KEY_ID: KEY.accessKeyId, AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey });
    try {
      const { verdict } = await sendWith({});
      assert.equal(verdict.status, 'sent');
      const request = ses.requests.at(-1)!;
      assert.equal(request.region, 'us-east-2');
      assert.equal(request.body.FromEmailAddress, 'env@herald.example');
    } finally {
      for (const name of ['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });

  test('an unreachable endpoint is a retry', async () => {
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const { verdict } = await sendWith({ ses: { endpoint: `http://127.0.0.1:${port}`, credentials: KEY } });
    assert.equal(verdict.status, 'retry');
    assert.equal(problemOf(verdict), undefined);
  });
});
