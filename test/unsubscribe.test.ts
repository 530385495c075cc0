import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ParsedMail } from 'mailparser';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { eventually, startEngine, type RunningEngine } from './helpers/engine.ts';
import { createEmailChannel } from '../src/channels/email/index.ts';
import { Keyring } from '../src/core/keyring.ts';
import { deriveSealingKey } from '../src/apps/secret-key.ts';
import { UnsubscribeLinks } from '../src/preferences/unsubscribe.ts';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.ts';

/**
 * RFC 8058 one-click unsubscribe: e-mails of non-required types carry List-Unsubscribe and
 * List-Unsubscribe-Post; the link works once without a login, switches off that type's e-mail
 * for that user, shows in their events, and is refused when tampered with, expired or reused.
 */
let h: TestHarness;
let engine: RunningEngine;
let smtp: SmtpSink;
const PUBLIC = 'https://notify.example.com';

before(async () => {
  smtp = await startSmtpSink();
  h = await createHarness({ HERALD_SMTP_URL: smtp.url, HERALD_EMAIL_FROM: 'Herald <no-reply@herald.example>', HERALD_PUBLIC_URL: `${PUBLIC}/` });
  const deps = { config: h.ctx.config, log: h.ctx.log, metrics: h.ctx.metrics, credentials: h.services.credentials };
  engine = await startEngine(h, [createEmailChannel(deps)]);
  await h.request({ method: 'PUT', url: '/v1/apps/default/notification-types/marketing', payload: { name: 'Offers' } });
  await h.request({ method: 'PUT', url: '/v1/apps/default/notification-types/security', payload: { required: true } });
  await h.request({ method: 'PUT', url: '/v1/users/ada', payload: { email: 'ada@example.org' } });
});

after(async () => {
  await engine.stop();
  await h.close();
  await smtp.close();
});

async function mailFor(subject: string, body: object): Promise<ParsedMail> {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'ada' }, channels: ['email'], title: subject, email: { subject, text: 'hello' }, ...body } });
  assert.equal(res.statusCode, 202, res.body);
  return eventually(async () => smtp.received.find((m) => m.subject === subject), 30_000, `mail "${subject}"`);
}

const header = (mail: ParsedMail, name: string) => mail.headerLines.find((l) => l.key === name)?.line.slice(name.length + 1).trim();

function tokenOf(mail: ParsedMail): string {
  const value = header(mail, 'list-unsubscribe');
  assert.ok(value, 'List-Unsubscribe is present');
  const match = /^<https:\/\/notify\.example\.com\/v1\/unsubscribe\/([A-Za-z0-9_-]{38})>$/.exec(value.replace(/\s+/g, ''));
  assert.ok(match, value);
  return match[1]!;
}

const post = (token: string) => h.app.inject({ method: 'POST', url: `/v1/unsubscribe/${token}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click' });
const marketingEmail = async () => (await h.request({ method: 'GET', url: '/v1/users/ada/preferences' })).json().types.find((t: { key: string }) => t.key === 'marketing').channels.email;

test('non-required e-mail carries RFC 8058 headers; required and untyped e-mail do not', async () => {
  const offer = await mailFor('Offer 1', { type: 'marketing' });
  tokenOf(offer);
  assert.equal(header(offer, 'list-unsubscribe-post'), 'List-Unsubscribe=One-Click');
  const alert = await mailFor('New sign-in', { type: 'security' });
  assert.equal(header(alert, 'list-unsubscribe'), undefined);
  const plain = await mailFor('Plain', {});
  assert.equal(header(plain, 'list-unsubscribe'), undefined);
});

test('the link is refused when tampered with or expired, works once, and is recorded', async () => {
  const token = tokenOf(await mailFor('Offer 2', { type: 'marketing' }));
  const raw = Buffer.from(token, 'base64url');
  const flip = (at: number) => {
    const copy = Buffer.from(raw);
    copy[at] = copy[at]! ^ 1;
    return copy.toString('base64url');
  };
  const tampered = [
    flip(27), // the signature
    flip(7), // another delivery (someone else's e-mail)
    flip(11), // a later expiry
    'not-a-token',
    token.slice(0, -1),
    `${token}A`,
    'x'.repeat(90),
    'x'.repeat(2100), // longer than any token: still a link that does not verify, not a 400
  ];
  for (const t of tampered) {
    const res = await post(t);
    assert.equal(res.statusCode, 404, `${t}: ${res.body}`);
    assert.equal(res.json().error.code, 'NOT_FOUND');
  }
  const deliveryId = raw.readBigUInt64BE(0).toString();
  const expired = h.services.unsubscribeLinks.token(deliveryId, new Date(Date.now() - 61 * 86_400_000));
  assert.equal((await post(expired)).statusCode, 404);
  assert.deepEqual(await marketingEmail(), { enabled: true, source: 'default' });

  // A GET (link scanners, prefetch) shows a button and changes nothing.
  const page = await h.app.inject({ method: 'GET', url: `/v1/unsubscribe/${token}` });
  assert.equal(page.statusCode, 200);
  assert.match(page.headers['content-type'] as string, /text\/html/);
  assert.deepEqual(await marketingEmail(), { enabled: true, source: 'default' });

  const ok = await post(token);
  assert.equal(ok.statusCode, 200, ok.body);
  assert.deepEqual(ok.json(), { unsubscribed: true, appId: 'default', type: 'marketing', channel: 'email' });
  assert.deepEqual(await marketingEmail(), { enabled: false, source: 'user' });
  const replay = await post(token);
  assert.equal(replay.statusCode, 404);

  const events = (await h.request({ method: 'GET', url: '/v1/users/ada/events' })).json().items.filter((e: { type: string }) => e.type === 'preferences:updated');
  assert.equal(events.length, 1);
  assert.equal(events[0].data.via, 'one-click-unsubscribe');
  assert.deepEqual(events[0].data.types, { marketing: { email: false } });

  // No more marketing e-mail for ada; security still comes.
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'ada' }, channels: ['email'], type: 'marketing', title: 'x' } });
  assert.equal((await h.request({ method: 'GET', url: `/v1/notifications/${res.json().id}` })).json().status, 'undeliverable');
  await mailFor('Another sign-in', { type: 'security' });
});

test('a link signed before a key rotation still verifies with the old key kept as previous, and not once it is dropped', async () => {
  const [oldKey, newKey] = await Promise.all([deriveSealingKey('the key before rotation'), deriveSealingKey('the key after rotation')]);
  const options = { publicUrl: 'https://herald.example.com', days: 60 };
  const token = new UnsubscribeLinks(new Keyring(oldKey), options).token('12345');
  assert.equal(new UnsubscribeLinks(new Keyring(newKey, [oldKey]), options).verify(token)?.deliveryId, '12345');
  assert.equal(new UnsubscribeLinks(new Keyring(newKey), options).verify(token), undefined);
  const fresh = new UnsubscribeLinks(new Keyring(newKey, [oldKey]), options).token('678');
  assert.equal(new UnsubscribeLinks(new Keyring(newKey), options).verify(fresh)?.deliveryId, '678', 'new links are signed with the current key');
});
