/**
 * SMTP messages per second: herald's e-mail channel (pooled nodemailer transport, template
 * rendering included) against the baseline of one SMTP connection per message (nodemailer's
 * default transport), both into the same in-process smtp-server sink, same concurrency, same run.
 *
 *   npm run bench -- email
 */
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import { Registry } from 'prom-client';
import { SMTPServer } from 'smtp-server';
import { loadConfig } from '../src/config/index.ts';
import { createLogger } from '../src/log/index.ts';
import type { AppChannel, AppCredentials, AppCredentialStore } from '../src/apps/types.ts';
import type { DeliveryJob } from '../src/channels/types.ts';
import { composeEmail, createEmailChannel } from '../src/channels/email/index.ts';

const MESSAGES = Number(process.env.HERALD_BENCH_EMAIL_MESSAGES ?? 3000);
const CONCURRENCY = 50;

let accepted = 0;
let connections = 0;
const sink = new SMTPServer({
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
const port = (sink.server.address() as AddressInfo).port;
const smtpUrl = `smtp://127.0.0.1:${port}`;
const from = 'Herald <bench@herald.example>';

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
async function measure(label: string, send: () => Promise<boolean>): Promise<{ rate: number; connections: number }> {
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
  const opened = connections - startConnections;
  console.log(`${label.padEnd(44)} ${rate.toFixed(0).padStart(7)} msg/s  (${MESSAGES} messages, ${opened} connections, ${failures} failures, ${seconds.toFixed(2)} s)`);
  return { rate, connections: opened };
}

const credentials: AppCredentialStore = {
  async get(appId: string): Promise<AppCredentials | undefined> {
    return { id: appId, name: appId, email: { from, smtpUrl } };
  },
  async reportProblem(_appId: string, _channel: AppChannel, _problem: string | undefined): Promise<void> {},
};
const channel = createEmailChannel(
  { config: loadConfig({ HERALD_LOG_LEVEL: 'silent' }), log: createLogger('silent'), metrics: new Registry(), credentials },
  { maxConnections: 5 },
);

// One connection per message: nodemailer's default (non-pooled) transport connects, greets and
// quits for every sendMail. The message is composed the same way, so only the connection differs.
const single = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
async function sendSingle(): Promise<boolean> {
  const mail = composeEmail(job(), from, `user${seq}@example.org`);
  try {
    await single.sendMail({ from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: mail.messageId, headers: { ...mail.headers } });
    return true;
  } catch {
    return false;
  }
}
const sendPooled = async (): Promise<boolean> => (await channel.send(job())).status === 'sent';

console.log(`SMTP into an in-process smtp-server sink, ${CONCURRENCY} sends in flight`);
// Warm-up (JIT, template compile, pool fill), not measured.
await Promise.all(Array.from({ length: 100 }, () => channel.send(job())));
await Promise.all(Array.from({ length: 20 }, () => sendSingle()));

const pooled = await measure('herald e-mail channel (pool of 5)', sendPooled);
const baseline = await measure('baseline: one connection per message', sendSingle);
console.log(`ratio herald / baseline: ${(pooled.rate / baseline.rate).toFixed(2)}x`);

await channel.close();
single.close();
await new Promise<void>((resolve) => sink.close(() => resolve()));
