/**
 * The e-mail channel over SMTP against a real SMTP server in-process (smtp-server), with the
 * delivered MIME parsed by mailparser: template, escaping, headers, every verdict, pooling, TLS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import { loadConfig } from '../src/config/index.ts';
import { createLogger } from '../src/log/index.ts';
import type { AppCredentials, AppChannel, AppCredentialStore } from '../src/apps/types.ts';
import type { ChannelDeps, DeliveryJob } from '../src/channels/types.ts';
import { createEmailChannel, EmailChannel } from '../src/channels/email/index.ts';
import { trackingProblems } from './helpers/app-problems.ts';

/** In-memory credential store that records reported problems. */
export class MemoryCredentials implements AppCredentialStore {
  readonly apps = new Map<string, AppCredentials>();
  readonly problems = new Map<string, string | undefined>();
  readonly reports: Array<{ appId: string; channel: AppChannel; problem: string | undefined }> = [];
  async get(appId: string): Promise<AppCredentials | undefined> {
    return this.apps.get(appId);
  }
  async reportProblem(appId: string, channel: AppChannel, problem: string | undefined): Promise<void> {
    this.reports.push({ appId, channel, problem });
    this.problems.set(`${appId}/${channel}`, problem);
  }
}

interface Sink {
  readonly server: SMTPServer;
  readonly port: number;
  readonly received: ParsedMail[];
  readonly envelopes: Array<{ from: string; to: string[] }>;
  connections: number;
  close(): Promise<void>;
}

/**
 * A scriptable SMTP server. Recipients steer it: `tempfail@` → 451 at RCPT, `reject@` → 550 at
 * RCPT, `datafail@` → 452 after DATA, `datareject@` → 554 after DATA.
 */
async function startSink(extra: Partial<SMTPServerOptions> = {}): Promise<Sink> {
  const received: ParsedMail[] = [];
  const envelopes: Array<{ from: string; to: string[] }> = [];
  const replyError = (message: string, code: number): Error => Object.assign(new Error(message), { responseCode: code });
  const sink: { connections: number } = { connections: 0 };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onConnect(_session, callback) {
      sink.connections++;
      callback();
    },
    onRcptTo(address, _session, callback) {
      const local = address.address.split('@')[0];
      if (local === 'tempfail') return callback(replyError('Mailbox busy, try later', 451));
      if (local === 'reject') return callback(replyError('No such user here', 550));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address);
        const local = to[0]?.split('@')[0];
        if (local === 'datafail') return callback(replyError('Insufficient storage', 452));
        if (local === 'datareject') return callback(replyError('Message refused as spam', 554));
        envelopes.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to });
        simpleParser(Buffer.concat(chunks)).then((mail) => {
          received.push(mail);
          callback();
        }, callback);
      });
    },
    ...extra,
  });
  // A client that hangs up mid-handshake (an untrusted certificate) is an 'error' event here.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return Object.assign(sink, {
    server,
    port,
    received,
    envelopes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

function deps(credentials: AppCredentialStore, env: Record<string, string> = {}): ChannelDeps {
  const config = loadConfig({ HERALD_LOG_LEVEL: 'silent', ...env });
  return { config, log: createLogger('silent'), metrics: new Registry(), credentials };
}

async function eventuallyTrue(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), 'condition not reached');
}

let seq = 0;
function job(overrides: Partial<DeliveryJob> & { email?: string | undefined } = {}): DeliveryJob {
  seq++;
  const { email, ...rest } = overrides;
  return {
    id: `0193d5c2-0000-7000-8000-${String(seq).padStart(12, '0')}`,
    notificationId: `0193d5c2-1111-7000-8000-${String(seq).padStart(12, '0')}`,
    provider: 'email',
    appId: 'default',
    attempt: 1,
    dueAt: new Date(),
    expiresAt: undefined,
    user: { id: 'u1', email: 'email' in overrides ? email : 'ann@example.org', name: 'Ann' },
    device: undefined,
    content: { title: 'Dentist at 3pm', body: 'Bring the forms', url: 'https://example.org/r/1' },
    ...rest,
  };
}

describe('e-mail over SMTP', () => {
  let sink: Sink;
  let creds: MemoryCredentials;
  let channel: EmailChannel;

  before(async () => {
    sink = await startSink();
    creds = new MemoryCredentials();
    creds.apps.set('default', { id: 'default', name: 'Default', email: { from: 'Herald <no-reply@herald.example>', smtpUrl: `smtp://127.0.0.1:${sink.port}` } });
    creds.apps.set('bare', { id: 'bare', name: 'Bare' });
    channel = trackingProblems(new EmailChannel(deps(creds), { maxConnections: 3 }), creds);
  });
  after(async () => {
    await channel.close();
    await sink.close();
  });

  test('the reminder template arrives as text and HTML with herald headers', async () => {
    const j = job({ content: { title: 'Dentist <at> 3pm', body: 'Bring <script>alert("x")</script> & forms', url: 'https://example.org/r/1?a=1&b=2' } });
    const verdict = await channel.send(j);
    assert.deepEqual(verdict, { status: 'sent', providerId: `<${j.id}@herald.example>` });
    const mail = sink.received.at(-1)!;
    assert.equal(mail.subject, 'Dentist <at> 3pm');
    assert.equal(mail.messageId, `<${j.id}@herald.example>`);
    assert.equal(mail.headers.get('x-herald-delivery-id'), j.id);
    assert.equal(mail.headers.get('x-herald-notification-id'), j.notificationId);
    assert.equal(mail.headers.get('auto-submitted'), 'auto-generated');
    assert.deepEqual(sink.envelopes.at(-1), { from: 'no-reply@herald.example', to: ['ann@example.org'] });
    assert.equal(mail.from?.value[0]?.address, 'no-reply@herald.example');
    assert.equal(mail.from?.value[0]?.name, 'Herald');
    const text = mail.text ?? '';
    assert.match(text, /^Hi Ann,/);
    assert.ok(text.includes('Dentist <at> 3pm'));
    assert.ok(text.includes('Bring <script>alert("x")</script> & forms'), 'the text part is not HTML-escaped');
    assert.ok(text.includes('https://example.org/r/1?a=1&b=2'));
    const html = typeof mail.html === 'string' ? mail.html : '';
    assert.ok(html.includes('<p>Hi Ann,</p>'));
    assert.ok(!html.includes('<script>'), 'a <script> in the message must arrive escaped');
    assert.ok(html.includes('Bring &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; forms'));
    assert.ok(html.includes('Dentist &lt;at&gt; 3pm'));
    assert.ok(html.includes('href="https://example.org/r/1?a=1&amp;b=2"'));
  });

  test('a greeting without a name, and no link for a non-web URL', async () => {
    const j = job({ user: { id: 'u2', email: 'bob@example.org' }, content: { title: 'Hello', body: 'x', url: 'javascript:alert(1)' } });
    assert.equal((await channel.send(j)).status, 'sent');
    const mail = sink.received.at(-1)!;
    assert.match(mail.text ?? '', /^Hi,\n/);
    assert.ok(!String(mail.html).includes('javascript:'));
    assert.ok(!String(mail.text).includes('javascript:'));
  });

  test("the notification's own subject, text and HTML win over the template", async () => {
    const j = job({ content: { title: 'T', email: { subject: 'Own subject', text: 'own text', html: '<p>own <b>html</b></p>' } } });
    assert.equal((await channel.send(j)).status, 'sent');
    const mail = sink.received.at(-1)!;
    assert.equal(mail.subject, 'Own subject');
    assert.equal(mail.text?.trim(), 'own text');
    assert.equal(String(mail.html).trim(), '<p>own <b>html</b></p>');
  });

  test('only the parts the notification gives are sent', async () => {
    const j = job({ content: { title: 'Only text', email: { text: 'just this' } } });
    assert.equal((await channel.send(j)).status, 'sent');
    const mail = sink.received.at(-1)!;
    assert.equal(mail.subject, 'Only text');
    assert.equal(mail.text?.trim(), 'just this');
    assert.equal(mail.html, false);
  });

  test('4xx replies are retried, 5xx rejections fail for good', async () => {
    const before = sink.received.length;
    const rcpt4 = await channel.send(job({ email: 'tempfail@example.org' }));
    assert.equal(rcpt4.status, 'retry');
    assert.match(rcpt4.status === 'retry' ? rcpt4.error : '', /451/);
    const rcpt5 = await channel.send(job({ email: 'reject@example.org' }));
    assert.equal(rcpt5.status, 'failed');
    assert.match(rcpt5.status === 'failed' ? rcpt5.error : '', /550/);
    assert.equal(rcpt5.status === 'failed' ? rcpt5.appProblem : 'x', undefined, 'a rejected recipient is not an app problem');
    const data4 = await channel.send(job({ email: 'datafail@example.org' }));
    assert.equal(data4.status, 'retry');
    assert.match(data4.status === 'retry' ? data4.error : '', /452/);
    const data5 = await channel.send(job({ email: 'datareject@example.org' }));
    assert.equal(data5.status, 'failed');
    assert.match(data5.status === 'failed' ? data5.error : '', /554/);
    assert.equal(sink.received.length, before, 'nothing was delivered');
    // The pool survives rejections: the next message goes through.
    assert.equal((await channel.send(job())).status, 'sent');
  });

  test('a user without an e-mail address fails with a clear reason', async () => {
    assert.deepEqual(await channel.send(job({ email: undefined })), { status: 'failed', error: 'user u1 has no email address' });
    const noUser = await channel.send(job({ user: undefined }));
    assert.equal(noUser.status, 'failed');
  });

  test('an app without e-mail credentials fails with an appProblem saying what to configure', async () => {
    const verdict = await channel.send(job({ appId: 'bare' }));
    assert.equal(verdict.status, 'failed');
    const problem = verdict.status === 'failed' ? verdict.appProblem ?? '' : '';
    assert.match(problem, /app bare has no e-mail configuration/);
    assert.match(problem, /smtpUrl/);
    assert.equal(creds.problems.get('bare/email'), problem);
    assert.equal((await channel.send(job({ appId: 'bare' }))).status, 'failed');
    assert.equal(creds.reports.filter((r) => r.appId === 'bare').length, 1, 'the same problem is recorded once, not per delivery');
    assert.equal((await channel.send(job({ appId: 'nope' }))).status, 'failed');
  });

  test('many concurrent sends share a few pooled connections', async () => {
    const connectionsBefore = sink.connections;
    const receivedBefore = sink.received.length;
    const verdicts = await Promise.all(Array.from({ length: 40 }, () => channel.send(job())));
    assert.ok(verdicts.every((v) => v.status === 'sent'));
    assert.equal(sink.received.length, receivedBefore + 40);
    assert.ok(sink.connections - connectionsBefore <= 3, `opened ${sink.connections - connectionsBefore} connections for 40 messages`);
  });
});

describe('SMTP authentication, connection failures and TLS', () => {
  test('a refused login fails with an appProblem, a later success clears it', async () => {
    let password = 'wrong';
    const sink = await startSink({
      authOptional: false,
      allowInsecureAuth: true,
      onAuth(auth, _session, callback) {
        if (auth.username === 'herald' && auth.password === password) return callback(null, { user: 'herald' });
        callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      },
    });
    const creds = new MemoryCredentials();
    creds.apps.set('a1', { id: 'a1', name: 'A1', email: { from: 'a1@herald.example', smtpUrl: `smtp://herald:secret@127.0.0.1:${sink.port}` } });
    const channel = trackingProblems(createEmailChannel(deps(creds)), creds);
    try {
      const verdict = await channel.send(job({ appId: 'a1' }));
      assert.equal(verdict.status, 'failed');
      const problem = verdict.status === 'failed' ? verdict.appProblem ?? '' : '';
      assert.match(problem, /SMTP login to 127\.0\.0\.1:\d+ failed/);
      assert.ok(!problem.includes('secret'), 'the password never appears in a problem');
      assert.equal(creds.problems.get('a1/email'), problem);
      password = 'secret';
      assert.equal((await channel.send(job({ appId: 'a1' }))).status, 'sent');
      assert.equal(creds.problems.get('a1/email'), undefined, 'a success clears the problem');
      assert.equal(creds.problems.has('a1/email'), true);
    } finally {
      await channel.close();
      await sink.close();
    }
  });

  test('an unreachable server is a retry', async () => {
    // A port that was free a moment ago: connection refused.
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const creds = new MemoryCredentials();
    creds.apps.set('default', { id: 'default', name: 'D', email: { from: 'x@herald.example', smtpUrl: `smtp://127.0.0.1:${port}` } });
    const channel = createEmailChannel(deps(creds));
    try {
      const verdict = await channel.send(job());
      assert.equal(verdict.status, 'retry');
      assert.equal(verdict.status === 'retry' ? verdict.appProblem : 'x', undefined);
    } finally {
      await channel.close();
    }
  });

  test('the default app falls back to HERALD_SMTP_URL and HERALD_EMAIL_FROM', async () => {
    const sink = await startSink();
    const creds = new MemoryCredentials();
    creds.apps.set('default', { id: 'default', name: 'Default' });
    const channel = createEmailChannel(deps(creds, { HERALD_SMTP_URL: `smtp://127.0.0.1:${sink.port}`, HERALD_EMAIL_FROM: 'env@herald.example' }));
    try {
      assert.equal((await channel.send(job())).status, 'sent');
      assert.equal(sink.envelopes.at(-1)?.from, 'env@herald.example');
    } finally {
      await channel.close();
      await sink.close();
    }
  });

  test('smtps:// with a server certificate from a test CA', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'herald-email-tls-'));
    try {
      const run = promisify(execFile);
      const key = path.join(dir, 'key.pem');
      const cert = path.join(dir, 'cert.pem');
      await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
        '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
      const pem = { key: await readFile(key), cert: await readFile(cert) };
      const sink = await startSink({ secure: true, key: pem.key, cert: pem.cert });
      const creds = new MemoryCredentials();
      creds.apps.set('default', { id: 'default', name: 'D', email: { from: 'tls@herald.example', smtpUrl: `smtps://127.0.0.1:${sink.port}` } });
      const trusted = createEmailChannel(deps(creds), { tls: { ca: pem.cert } });
      const untrusted = createEmailChannel(deps(creds));
      try {
        assert.equal((await trusted.send(job())).status, 'sent');
        assert.equal(sink.received.length, 1);
        const refused = await untrusted.send(job());
        assert.equal(refused.status, 'retry', 'an untrusted certificate is not delivered to');
        assert.match(refused.status === 'retry' ? refused.appProblem ?? '' : '', /TLS with SMTP server 127\.0\.0\.1:\d+ failed: self-signed certificate/);
        assert.equal(sink.received.length, 1);
      } finally {
        await trusted.close();
        await untrusted.close();
        await sink.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an SMTP pool left idle is closed when the app moves to another URL', async (t) => {
    let closed = 0;
    const sink = await startSink({ onClose: () => { closed++; } });
    const creds = new MemoryCredentials();
    const first = `smtp://127.0.0.1:${sink.port}/?name=first.herald.example`;
    creds.apps.set('default', { id: 'default', name: 'D', email: { from: 'x@herald.example', smtpUrl: first } });
    const channel = createEmailChannel(deps(creds));
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      assert.equal((await channel.send(job())).status, 'sent');
      assert.equal(closed, 0, 'the pooled connection stays open');
      t.mock.timers.tick(16 * 60_000);
      creds.apps.set('default', { id: 'default', name: 'D', email: { from: 'x@herald.example', smtpUrl: `smtp://127.0.0.1:${sink.port}/?name=second.herald.example` } });
      assert.equal((await channel.send(job())).status, 'sent');
      await eventuallyTrue(() => closed === 1);
    } finally {
      t.mock.timers.reset();
      await channel.close();
      await sink.close();
    }
  });

  test('after close() sends are retried later, not lost', async () => {
    const creds = new MemoryCredentials();
    const channel = createEmailChannel(deps(creds));
    await channel.close();
    assert.equal((await channel.send(job())).status, 'retry');
  });
});
