/**
 * SMTP messages per second: herald's e-mail channel (pooled nodemailer transport, template
 * rendering included) against the baseline of one SMTP connection per message (nodemailer's
 * default transport), both into the same in-process smtp-server sink, same concurrency, same run.
 * Measured twice: over TLS (smtps://, as production SMTP runs: the handshake per message is what
 * pooling saves) and over plain loopback TCP (the cheapest possible connection).
 *
 *   npm run bench -- email
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { Registry } from 'prom-client';
import { SMTPServer } from 'smtp-server';
import { loadConfig } from '../src/config/index.ts';
import { createLogger } from '../src/log/index.ts';
import type { AppChannel, AppCredentials, AppCredentialStore } from '../src/apps/types.ts';
import type { DeliveryJob } from '../src/channels/types.ts';
import { composeEmail, createEmailChannel } from '../src/channels/email/index.ts';

const MESSAGES = Number(process.env.HERALD_BENCH_EMAIL_MESSAGES ?? 2000);
const CONCURRENCY = 50;
const FROM = 'Herald <bench@herald.example>';

// A throwaway certificate for the TLS sink, in the temp directory (never in the tree).
const dir = await mkdtemp(path.join(tmpdir(), 'herald-email-bench-'));
await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
  '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost',
  '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
const pem = { key: await readFile(path.join(dir, 'key.pem')), cert: await readFile(path.join(dir, 'cert.pem')) };

let accepted = 0;
let connections = 0;
async function startSink(secure: boolean): Promise<{ port: number; close(): Promise<void> }> {
  const sink = new SMTPServer({
    secure,
    ...(secure ? pem : {}),
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    maxClients: 10_000,
    // The sink should cost as little as possible: no reverse DNS per connection.
    disableReverseLookup: true,
    onConnect(_session, callback) {
      connections++;
      callback();
    },
    onData(stream, _session, callback) {
      stream.on('data', () => {});
      stream.on('end', () => {
        accepted++;
        callback();
      });
    },
  });
  sink.on('error', () => {});
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  return { port: (sink.server.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => sink.close(() => resolve())) };
}

let seq = 0;
function job(): DeliveryJob {
  seq++;
  return {
    id: `0193d5c2-4444-7000-8000-${String(seq).padStart(12, '0')}`,
    notificationId: `0193d5c2-5555-7000-8000-${String(seq).padStart(12, '0')}`,
    provider: 'email',
    appId: 'default',
    attempt: 1,
    dueAt: new Date(),
    expiresAt: undefined,
    user: { id: `u${seq}`, email: `user${seq}@example.org`, name: 'Ann' },
    device: undefined,
    content: { title: 'Dentist at 3pm', body: 'Bring the forms & your card', url: 'https://example.org/r/1' },
  };
}

/** Runs `send` MESSAGES times with at most CONCURRENCY in flight; returns messages/s. */
async function measure(label: string, send: () => Promise<boolean>): Promise<number> {
  const startAccepted = accepted;
  const startConnections = connections;
  let started = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (started < MESSAGES) {
      started++;
      if (!(await send())) failures++;
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const rate = (accepted - startAccepted) / seconds;
  console.log(`  ${label.padEnd(40)} ${rate.toFixed(0).padStart(6)} msg/s  (${MESSAGES} messages, ${connections - startConnections} connections, ${failures} failures, ${seconds.toFixed(2)} s)`);
  return rate;
}

async function compare(secure: boolean): Promise<void> {
  const sink = await startSink(secure);
  const smtpUrl = `${secure ? 'smtps' : 'smtp'}://127.0.0.1:${sink.port}`;
  const credentials: AppCredentialStore = {
    async get(appId: string): Promise<AppCredentials | undefined> {
      return { id: appId, name: appId, email: { from: FROM, smtpUrl } };
    },
    async reportProblem(_appId: string, _channel: AppChannel, _problem: string | undefined): Promise<void> {},
  };
  const channel = createEmailChannel(
    { config: loadConfig({ HERALD_LOG_LEVEL: 'silent' }), log: createLogger('silent'), metrics: new Registry(), credentials },
    { maxConnections: 5, tls: { ca: pem.cert } },
  );
  // One connection per message: nodemailer's default (non-pooled) transport connects, greets and
  // quits for every sendMail. The message is composed the same way, so only the connection differs.
  const single = nodemailer.createTransport({ host: '127.0.0.1', port: sink.port, secure, ignoreTLS: !secure, tls: { ca: pem.cert } });
  const sendSingle = async (): Promise<boolean> => {
    const j = job();
    const mail = composeEmail(j, FROM, j.user!.email!);
    try {
      await single.sendMail({ from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: mail.messageId, headers: { ...mail.headers } });
      return true;
    } catch {
      return false;
    }
  };
  const sendPooled = async (): Promise<boolean> => (await channel.send(job())).status === 'sent';

  console.log(`${secure ? 'TLS (smtps://)' : 'plain TCP (smtp://)'}, loopback, ${CONCURRENCY} sends in flight`);
  // Warm-up (JIT, template compile, pool fill), not measured.
  await Promise.all(Array.from({ length: 100 }, () => channel.send(job())));
  await Promise.all(Array.from({ length: 20 }, () => sendSingle()));
  const pooled = await measure('herald e-mail channel (pool of 5)', sendPooled);
  const baseline = await measure('baseline: one connection per message', sendSingle);
  console.log(`  ratio herald / baseline: ${(pooled / baseline).toFixed(2)}x`);
  await channel.close();
  single.close();
  await sink.close();
}

try {
  await compare(true);
  await compare(false);
} finally {
  await rm(dir, { recursive: true, force: true });
}
