import nodemailer, { type Transporter } from 'nodemailer';
import type { ConnectionOptions } from 'node:tls';
import type { Verdict } from '../types.ts';
import type { OutgoingEmail } from './message.ts';

/** What an SMTP attempt can fail with: nodemailer's error, with the reply code when the server sent one. */
interface SmtpError {
  readonly message?: string;
  readonly code?: string;
  /** The system/TLS code nodemailer replaced with its own (ECONNREFUSED, DEPTH_ZERO_SELF_SIGNED_CERT...). */
  readonly originalCode?: string;
  readonly responseCode?: number;
  readonly response?: string;
  readonly permanent?: boolean;
  readonly command?: string;
}

export interface SmtpOptions {
  /** Connections per SMTP server (nodemailer pool `maxConnections`). */
  readonly maxConnections: number;
  /** Extra TLS options (a test CA); production trusts the system store. */
  readonly tls?: ConnectionOptions | undefined;
}

/** Host part of an SMTP URL, for messages: the URL itself may carry a password. */
export function smtpHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === 'smtps:' ? '465' : '587')}`;
  } catch {
    return 'the SMTP server';
  }
}

// Connection-level failures: the message was never refused, so it can go again later.
const CONNECTION_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'EPROXY', 'EMAXLIMIT', 'EABORT']);
// Certificate verification failures (OpenSSL's X509 codes as Node reports them): the connection
// works but the server cannot be trusted, which only a change of configuration fixes.
const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED',
]);

/**
 * SMTP outcome → verdict. RFC 5321 §4.2.1: 4yz replies are transient (retry), 5yz permanent
 * (failed) — nodemailer's `permanent` flag applies that rule and treats 503 (bad sequence, a
 * session problem rather than a refusal) as transient. A failed login is the app's
 * configuration, not the message: failed with an appProblem, unless the server said 4yz
 * (e.g. 454 temporary authentication failure).
 */
export function smtpVerdict(error: unknown, host: string): Verdict {
  const err = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as SmtpError;
  const detail = (err.response ?? err.message ?? 'unknown error').slice(0, 500);
  if (err.code === 'EAUTH' || err.code === 'ENOAUTH' || err.code === 'EOAUTH2') {
    const appProblem = `SMTP login to ${host} failed: ${detail}`;
    if (err.responseCode !== undefined && err.responseCode >= 400 && err.responseCode < 500) {
      return { status: 'retry', error: `SMTP ${err.responseCode}: ${detail}`, appProblem };
    }
    return { status: 'failed', error: appProblem, appProblem };
  }
  if (err.responseCode !== undefined) {
    const permanent = err.permanent ?? err.responseCode >= 500;
    return permanent
      ? { status: 'failed', error: `SMTP ${err.responseCode} (${err.command ?? 'reply'}): ${detail}` }
      : { status: 'retry', error: `SMTP ${err.responseCode} (${err.command ?? 'reply'}): ${detail}` };
  }
  if (err.code === 'ETLS' || err.code === 'EREQUIRETLS' || (err.originalCode !== undefined && CERTIFICATE_CODES.has(err.originalCode))) {
    return { status: 'retry', error: `TLS with ${host} failed: ${detail}`, appProblem: `TLS with SMTP server ${host} failed: ${detail}` };
  }
  if (err.code === 'ECONFIG') {
    return { status: 'failed', error: `SMTP configuration: ${detail}`, appProblem: `SMTP configuration: ${detail}` };
  }
  // An envelope or message error without a server reply is nodemailer refusing locally (an
  // invalid address, a message too large): sending it again gives the same answer.
  if (err.code === 'EENVELOPE' || err.code === 'EMESSAGE' || err.code === 'EMAXRECIPIENTS') {
    return { status: 'failed', error: `SMTP: ${detail}` };
  }
  if (err.code !== undefined && CONNECTION_CODES.has(err.code)) {
    return { status: 'retry', error: `SMTP connection to ${host}: ${detail}` };
  }
  return { status: 'retry', error: `SMTP: ${detail}` };
}

/**
 * One pooled nodemailer transport per SMTP server. The pool keeps `maxConnections` sessions open
 * and pipelines messages over them; nodemailer queues what exceeds the pool, so any number of
 * concurrent `send` calls is fine. (nodemailer's default is a new connection, EHLO, STARTTLS
 * and AUTH for every message — see bench/email.bench.ts for what that costs.)
 */
export class SmtpSender {
  readonly host: string;
  readonly #transport: Transporter;

  constructor(url: string, options: SmtpOptions) {
    this.host = smtpHost(url);
    this.#transport = nodemailer.createTransport({
      url,
      pool: true,
      maxConnections: options.maxConnections,
      // nodemailer's defaults wait minutes; a worker slot should not.
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 60_000,
      ...(options.tls ? { tls: options.tls } : {}),
    });
    // An idle pooled connection that drops emits 'error' on the transport; the next send
    // reconnects, so it is not worth crashing over.
    this.#transport.on('error', () => {});
  }

  async send(mail: OutgoingEmail): Promise<Verdict> {
    try {
      await this.#transport.sendMail({
        from: mail.from,
        to: mail.to,
        subject: mail.subject,
        ...(mail.text !== undefined ? { text: mail.text } : {}),
        ...(mail.html !== undefined ? { html: mail.html } : {}),
        messageId: mail.messageId,
        headers: { ...mail.headers },
      });
      return { status: 'sent', providerId: mail.messageId };
    } catch (error) {
      return smtpVerdict(error, this.host);
    }
  }

  close(): void {
    this.#transport.close();
  }
}
