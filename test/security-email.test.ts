/**
 * Threat model — e-mail (docs/security.md): herald sends e-mail from the app's own sender, so an
 * address is the one thing that decides who reads content. An end user cannot point their
 * profile at someone else's mailbox, and no address — from a body, a JWT claim, a gateway header
 * or a row stored earlier — can carry a second recipient or a header.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { SMTPServer } from 'smtp-server';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { asUser } from './helpers/user-token.ts';
import { NO_HOOKS } from '../src/core/hooks.ts';
import { loadConfig } from '../src/config/index.ts';
import { createLogger } from '../src/log/index.ts';
import { EmailChannel } from '../src/channels/email/index.ts';
import type { AppCredentials } from '../src/apps/types.ts';
import type { DeliveryJob } from '../src/channels/types.ts';

let h: TestHarness;
let gateway: TestHarness;
before(async () => {
  h = await createHarness({}, { hooks: NO_HOOKS });
  gateway = await createHarness({ HERALD_TRUST_GATEWAY_HEADERS: 'true' }, { hooks: NO_HOOKS });
});
after(async () => {
  await h.close();
  await gateway.close();
});

const emailOf = async (harness: TestHarness, id: string) =>
  (await harness.db.pool.query<{ email: string | null }>(`SELECT email FROM users WHERE id = $1`, [id])).rows[0]?.email;

// Addresses that are more than one mailbox, or a mailbox with something riding along.
const NOT_ONE_MAILBOX = [
  'victim@example.com\r\nBcc: everyone@example.net',
  'victim@example.com\nBcc: everyone@example.net',
  'me@example.com, victim@example.net',
  'me@example.com;victim@example.net',
  'Me <victim@example.net>',
  'me@example.com <victim@example.net>',
  'list: a@example.com, b@example.net;',
  '"a,b"@example.com',
  'a@b@example.com',
  'me@example.com ',
  `${'x'.repeat(65)}@example.com`,
  `me@${'d'.repeat(250)}.com`,
];

test('PUT /v1/me cannot change the e-mail address: 403, and nothing is stored', async () => {
  const me = await asUser('profile', { claims: { email: 'profile@example.com' } });
  const first = await h.app.inject({ method: 'PUT', url: '/v1/me', headers: me, payload: { name: 'Pro File', email: 'profile@example.com' } });
  assert.equal(first.statusCode, 200, 'the address the token vouches for may be set');
  const change = await h.app.inject({ method: 'PUT', url: '/v1/me', headers: me, payload: { name: 'Eve', email: 'victim@example.net' } });
  assert.equal(change.statusCode, 403, change.body);
  assert.equal(change.json().error.code, 'PERMISSION_DENIED');
  assert.equal(change.json().error.details[0].field, 'body.email');
  const user = (await h.app.inject({ url: '/v1/me', headers: me })).json();
  assert.equal(user.email, 'profile@example.com');
  assert.equal(user.name, 'Pro File', 'the refused request changed nothing');

  // A token without an e-mail claim cannot set one either, but keeps or clears the stored one.
  const bare = await asUser('profile');
  assert.equal((await h.app.inject({ method: 'PUT', url: '/v1/me', headers: bare, payload: { email: 'victim@example.net' } })).statusCode, 403);
  assert.equal((await h.app.inject({ method: 'PUT', url: '/v1/me', headers: bare, payload: { email: 'profile@example.com', name: 'Kept' } })).statusCode, 200);
  assert.equal((await h.app.inject({ method: 'PUT', url: '/v1/me', headers: bare, payload: { name: 'Cleared' } })).statusCode, 200);
  assert.equal(await emailOf(h, 'profile'), null);
  const fresh = await asUser('newcomer');
  assert.equal((await h.app.inject({ method: 'PUT', url: '/v1/me', headers: fresh, payload: { email: 'victim@example.net' } })).statusCode, 403);
  assert.equal(await emailOf(h, 'newcomer'), undefined, 'no user row either');
  // The application's server still sets any address.
  assert.equal((await h.request({ method: 'PUT', url: '/v1/users/profile', payload: { email: 'new@example.com' } })).statusCode, 200);
});

test('a JWT email claim that is not one mailbox (CR/LF, a list, a display name) is never stored', async () => {
  let i = 0;
  for (const email of NOT_ONE_MAILBOX) {
    const id = `claim-${i++}`;
    const headers = await asUser(id, { claims: { email } });
    const dev = await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers, payload: { platform: 'android', token: `tok-${id}` } });
    assert.equal(dev.statusCode, 201, dev.body);
    const rem = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers, payload: { date: new Date(Date.now() + 3_600_000).toISOString(), message: 'm', notifyType: 'email' } });
    assert.equal(rem.statusCode, 201, rem.body);
    assert.equal(await emailOf(h, id), null, JSON.stringify(email));
    const put = await h.app.inject({ method: 'PUT', url: '/v1/me', headers, payload: { email } });
    assert.ok(put.statusCode === 400 || put.statusCode === 403, `${JSON.stringify(email)}: ${put.statusCode}`);
  }
  const good = await asUser('claim-good', { claims: { email: 'good@example.com' } });
  assert.equal((await h.app.inject({ method: 'POST', url: '/v1/me/devices', headers: good, payload: { platform: 'android', token: 'tok-good' } })).statusCode, 201);
  assert.equal(await emailOf(h, 'claim-good'), 'good@example.com');
});

test('a gateway x-consumer-username that is not one mailbox is never stored', async () => {
  for (const [i, email] of ['me@example.com, victim@example.net', 'Me <victim@example.net>', 'plain-username'].entries()) {
    const res = await gateway.app.inject({ method: 'POST', url: '/v1/me/devices', headers: { 'x-authenticated-userid': `gw-${i}`, 'x-consumer-username': email }, payload: { platform: 'android', token: `gw-tok-${i}` } });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(await emailOf(gateway, `gw-${i}`), null, email);
  }
});

test('PUT /v1/users refuses an e-mail that is not one mailbox with 400 naming body.email', async () => {
  for (const email of NOT_ONE_MAILBOX) {
    const res = await h.request({ method: 'PUT', url: '/v1/users/admin-set', payload: { email } });
    assert.equal(res.statusCode, 400, `${JSON.stringify(email)}: ${res.body}`);
    assert.equal(res.json().error.code, 'VALIDATION_FAILED');
    assert.equal(res.json().error.details[0].field, 'body.email');
  }
  assert.equal(await emailOf(h, 'admin-set'), undefined);
  assert.equal((await h.request({ method: 'PUT', url: '/v1/users/admin-set', payload: { email: "o'brien+tag@mail.example.co.uk" } })).statusCode, 200);
});

test('the e-mail channel sends nothing to a stored address that is not one mailbox', async () => {
  const envelopes: string[][] = [];
  const sink = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        envelopes.push(session.envelope.rcptTo.map((r) => r.address));
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const app: AppCredentials = { id: 'default', name: 'Default', email: { from: 'App <no-reply@app.example>', smtpUrl: `smtp://127.0.0.1:${(sink.server.address() as AddressInfo).port}` } };
  const channel = new EmailChannel({
    config: loadConfig({ HERALD_LOG_LEVEL: 'silent' }),
    log: createLogger('silent'),
    metrics: new Registry(),
    credentials: { get: async () => app, reportProblem: async () => undefined },
  });
  const job = (email: string): DeliveryJob => ({
    id: '0193d5c2-0000-7000-8000-000000000001',
    notificationId: '0193d5c2-1111-7000-8000-000000000001',
    provider: 'email',
    appId: 'default',
    attempt: 1,
    dueAt: new Date(),
    expiresAt: undefined,
    user: { id: 'stored', email, name: 'Stored' },
    device: undefined,
    content: { title: 'Your code', body: '123456' },
  });
  try {
    // Rows written before addresses were checked may still hold such values.
    for (const email of ['me@example.com, victim@example.net', 'Me <victim@example.net>', 'list: a@example.com, b@example.net;']) {
      const verdict = await channel.send(job(email));
      assert.equal(verdict.status, 'failed', email);
    }
    assert.deepEqual(envelopes, [], 'no message left');
    assert.equal((await channel.send(job('ok@example.com'))).status, 'sent');
    assert.deepEqual(envelopes, [['ok@example.com']]);
  } finally {
    await channel.close();
    await new Promise<void>((resolve) => sink.close(() => resolve()));
  }
});
