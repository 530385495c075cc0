/**
 * End to end: POST /v1/notifications → fan-out → delivery engine → the e-mail channel → a real
 * SMTP server in-process (default app, from HERALD_* variables) and the fake SES v2 endpoint (an
 * app configured through PUT /v1/apps). Checks what the recipient gets and what the API reports.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { eventually, startEngine, type RunningEngine } from './helpers/engine.ts';
import { createEmailChannel } from '../src/channels/email/index.ts';
import { startFakeSes, type FakeSes } from './fakes/ses-server.ts';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.ts';

const KEY = { accessKeyId: 'AKIAHERALDE2E0000001', secretAccessKey: 'e2e-secret-key-0123456789' };

let h: TestHarness;
let engine: RunningEngine;
let ses: FakeSes;
let smtp: SmtpSink;
/** Recipients whose next RCPT TO is answered 451 (once each). */
const deferOnce = new Set<string>();

before(async () => {
  smtp = await startSmtpSink({
    onRcptTo(address, _session, callback) {
      if (deferOnce.delete(address.address)) return callback(Object.assign(new Error('Greylisted, try again later'), { responseCode: 451 }));
      callback();
    },
  });
  ses = await startFakeSes({ [KEY.accessKeyId]: KEY.secretAccessKey });
  h = await createHarness({ HERALD_SMTP_URL: smtp.url, HERALD_EMAIL_FROM: 'Herald <no-reply@herald.example>' });
  const deps = { config: h.ctx.config, log: h.ctx.log, metrics: h.ctx.metrics, credentials: h.services.credentials };
  engine = await startEngine(h, [createEmailChannel(deps, { ses: { endpoint: ses.url, credentials: KEY } })]);
});

after(async () => {
  await engine.stop();
  await h.close();
  await ses.close();
  await smtp.close();
});

interface DeliveryView {
  id: string;
  provider: string;
  status: string;
  attempts: number;
  lastError?: string;
  providerId?: string;
}

async function notify(body: Record<string, unknown>): Promise<string> {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: body });
  assert.equal(res.statusCode, 202, res.body);
  return res.json().id as string;
}

async function settled(id: string): Promise<{ status: string; deliveries: DeliveryView[] }> {
  return eventually(async () => {
    const res = await h.request({ url: `/v1/notifications/${id}` });
    const n = res.json() as { status: string; deliveries: DeliveryView[] };
    return n.deliveries.length > 0 && n.deliveries.every((d) => !['pending', 'sending'].includes(d.status)) ? n : undefined;
  }, 20_000, `notification ${id} to settle`);
}

async function putUser(id: string, body: Record<string, unknown>): Promise<void> {
  const res = await h.request({ method: 'PUT', url: `/v1/users/${id}`, payload: body });
  assert.equal(res.statusCode, 200, res.body);
}

test('a notification reaches the inbox over SMTP, rendered from the reminder template', async () => {
  await putUser('ann', { email: 'ann@example.org', name: 'Ann <Admin>' });
  const id = await notify({ to: { userId: 'ann' }, channels: ['email'], title: 'Dentist at 3pm', body: 'Bring <script>alert(1)</script>', url: 'https://example.org/r/1' });
  const n = await settled(id);
  assert.equal(n.status, 'sent');
  const delivery = n.deliveries[0]!;
  assert.equal(delivery.provider, 'email');
  assert.equal(delivery.status, 'sent');
  assert.equal(delivery.providerId, `<${delivery.id}@herald.example>`);
  const mail = smtp.received.find((m) => m.headers.get('x-herald-delivery-id') === delivery.id);
  assert.ok(mail, 'the message arrived');
  assert.equal(mail.headers.get('x-herald-notification-id'), id);
  assert.equal(mail.subject, 'Dentist at 3pm');
  assert.equal((mail.to as { value: Array<{ address: string }> }).value[0]?.address, 'ann@example.org');
  assert.match(mail.text ?? '', /^Hi Ann <Admin>,/);
  const html = String(mail.html);
  assert.ok(html.includes('Hi Ann &lt;Admin&gt;,'));
  assert.ok(html.includes('Bring &lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(!html.includes('<script>'));
});

test('a greylisting 451 is retried by the engine and then delivered', async () => {
  await putUser('grey', { email: 'grey@example.org' });
  deferOnce.add('grey@example.org');
  const id = await notify({ to: { userId: 'grey' }, channels: ['email'], title: 'Later', email: { subject: 'Own subject', text: 'own text' } });
  const n = await settled(id);
  const delivery = n.deliveries[0]!;
  assert.equal(delivery.status, 'sent');
  assert.equal(delivery.attempts, 2);
  const mail = smtp.received.find((m) => m.headers.get('x-herald-delivery-id') === delivery.id);
  assert.equal(mail?.subject, 'Own subject');
  assert.equal(mail?.text?.trim(), 'own text');
});

test('a user without an e-mail address: the delivery fails with a clear reason', async () => {
  await putUser('noaddr', { name: 'No Address' });
  const id = await notify({ to: { userId: 'noaddr' }, channels: ['email'], title: 'T' });
  const n = await settled(id);
  assert.equal(n.status, 'failed');
  assert.equal(n.deliveries[0]!.status, 'failed');
  assert.equal(n.deliveries[0]!.attempts, 1, 'never retried');
  assert.match(n.deliveries[0]!.lastError ?? '', /user noaddr has no email address/);
});

test('an app configured for SES through the API sends through SES v2', async () => {
  const app = await h.request({ method: 'PUT', url: '/v1/apps/shop', payload: { name: 'Shop', email: { from: 'Shop <orders@shop.example>', ses: { region: 'eu-west-1' } } } });
  assert.equal(app.statusCode, 200, app.body);
  await putUser('buyer', { email: 'buyer@example.org', name: 'Bo' });
  const id = await notify({ to: { userId: 'buyer' }, appId: 'shop', channels: ['email'], title: 'Shipped', body: 'Your parcel is on its way' });
  const n = await settled(id);
  const delivery = n.deliveries[0]!;
  assert.equal(delivery.status, 'sent', delivery.lastError ?? '');
  const request = ses.requests.find((r) => r.body.Content?.Simple?.Headers?.some((x) => x.Name === 'X-Herald-Delivery-Id' && x.Value === delivery.id));
  assert.ok(request, 'SES received the SendEmail call');
  assert.equal(delivery.providerId, request.messageId);
  assert.equal(request.region, 'eu-west-1');
  assert.equal(request.body.FromEmailAddress, 'Shop <orders@shop.example>');
  assert.deepEqual(request.body.Destination?.ToAddresses, ['buyer@example.org']);
  assert.match(request.body.Content?.Simple?.Body?.Text?.Data ?? '', /^Hi Bo,\n\nShipped\n\nYour parcel is on its way/);
});

test('SES rejecting the message fails the delivery without retrying', async () => {
  await putUser('bounce', { email: 'bounce@example.org' });
  ses.script({ status: 400, type: 'MessageRejected', message: 'Email address is on the suppression list.' });
  const id = await notify({ to: { userId: 'bounce' }, appId: 'shop', channels: ['email'], title: 'T' });
  const n = await settled(id);
  assert.equal(n.deliveries[0]!.status, 'failed');
  assert.equal(n.deliveries[0]!.attempts, 1);
  assert.match(n.deliveries[0]!.lastError ?? '', /MessageRejected/);
});

test('a refused SMTP login shows on the app status, GET /v1/apps/{appId}', async () => {
  const port = smtp.port;
  // The sink offers no AUTH on a plain connection: the login is refused with a 5yz reply.
  const app = await h.request({ method: 'PUT', url: '/v1/apps/mailer', payload: { name: 'Mailer', email: { from: 'm@mailer.example', smtpUrl: `smtp://user:hunter2@127.0.0.1:${port}` } } });
  assert.equal(app.statusCode, 200, app.body);
  await putUser('carol', { email: 'carol@example.org' });
  const id = await notify({ to: { userId: 'carol' }, appId: 'mailer', channels: ['email'], title: 'T' });
  const n = await settled(id);
  assert.equal(n.deliveries[0]!.status, 'failed');
  assert.equal(n.deliveries[0]!.attempts, 1, 'a configuration error is not retried');
  const status = await h.request({ url: '/v1/apps/mailer' });
  assert.equal(status.statusCode, 200, status.body);
  const problem = (status.json() as { status: Record<string, { problem: string }> }).status.email?.problem ?? '';
  assert.match(problem, /SMTP login to 127\.0\.0\.1:\d+ failed/);
  assert.ok(!status.body.includes('hunter2'), 'the SMTP password is never shown');
});
