/**
 * A real `herald worker` process sends e-mail: the default app's SMTP server comes from
 * HERALD_SMTP_URL / HERALD_EMAIL_FROM (smtps:// here), and trust in its test certificate from
 * NODE_EXTRA_CA_CERTS, as a deployment behind a private CA would do it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { eventually, spawnHerald } from './helpers/engine.ts';
import { NotificationService } from '../src/notifications/service.ts';

let db: TestDatabase;
let dir: string;
let smtp: SMTPServer;
let port: number;
let child: ChildProcess | undefined;
const received: ParsedMail[] = [];

before(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), 'herald-email-process-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  smtp = new SMTPServer({
    secure: true,
    key: await readFile(key),
    cert: await readFile(cert),
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream).then((mail) => {
        received.push(mail);
        callback();
      }, callback);
    },
  });
  smtp.on('error', () => {});
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  port = (smtp.server.address() as AddressInfo).port;
});

after(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
  }
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  await db.close();
  await rm(dir, { recursive: true, force: true });
});

test('herald worker delivers a notification over smtps:// trusting NODE_EXTRA_CA_CERTS', async () => {
  await db.pool.query(`INSERT INTO users (id, email, name) VALUES ('pat', 'pat@example.org', 'Pat')`);
  const service = new NotificationService(db.pool);
  const created = await service.create({ to: { userId: 'pat' }, channels: ['email'], title: 'From a process', body: 'It works' }, { source: 'test' });

  let stderr = '';
  child = spawnHerald(['worker'], {
    HERALD_DATABASE_URL: db.url,
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_SMTP_URL: `smtps://127.0.0.1:${port}`,
    HERALD_EMAIL_FROM: 'Herald <no-reply@herald.example>',
    HERALD_WORKER_CHANNELS: 'email',
    HERALD_DATABASE_POOL_SIZE: '4',
    NODE_EXTRA_CA_CERTS: path.join(dir, 'cert.pem'),
  });
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));

  const row = await eventually(async () => {
    const { rows } = await db.pool.query<{ id: string; status: string; provider_id: string | null; last_error: string | null }>(
      `SELECT id, status, provider_id, last_error FROM deliveries WHERE notification_id = $1`, [created.id]);
    return rows[0] && rows[0].status !== 'pending' && rows[0].status !== 'sending' ? rows[0] : undefined;
  }, 30_000, 'the e-mail delivery to settle').catch((error: unknown) => {
    throw new Error(`${String(error)}\nworker stderr:\n${stderr}`);
  });
  assert.equal(row.status, 'sent', row.last_error ?? stderr);
  assert.equal(row.provider_id, `<${row.id}@herald.example>`);
  const mail = received.find((m) => m.headers.get('x-herald-delivery-id') === row.id);
  assert.ok(mail, 'the SMTP server received the message');
  assert.equal(mail.subject, 'From a process');
  assert.match(mail.text ?? '', /^Hi Pat,\n\nFrom a process\n\nIt works/);

  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child!.once('exit', (c) => resolve(c)));
  assert.equal(code, 0, `the worker shuts down cleanly: ${stderr}`);
});
