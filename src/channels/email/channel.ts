import type { ConnectionOptions } from 'node:tls';
import { Counter } from 'prom-client';
import type { AppCredentials, EmailCredentials } from '../../apps/types.ts';
import type { Channel, ChannelDeps, DeliveryJob, Verdict } from '../types.ts';
import { isSingleMailbox } from '../../users/email.ts';
import { composeEmail } from './message.ts';
import { SesSender, type SesOptions } from './ses.ts';
import { SmtpSender } from './smtp.ts';

export interface EmailChannelOptions {
  /** SMTP connections per server; default 5. */
  readonly maxConnections?: number;
  /** Extra TLS options for SMTP (a test CA). */
  readonly tls?: ConnectionOptions;
  /** SES endpoint/credential overrides (tests); default: AWS_ENDPOINT_URL and the standard chain. */
  readonly ses?: SesOptions;
  readonly maxAttempts?: number;
}

type Route =
  | { readonly kind: 'smtp'; readonly from: string; readonly url: string }
  | { readonly kind: 'ses'; readonly from: string; readonly region: string }
  | { readonly kind: 'none'; readonly problem: string };

/** An SMTP pool unused this long is closed when another one is opened. */
const SMTP_IDLE_MS = 15 * 60_000;

const CONFIGURE = 'set the app\'s email credentials {from, smtpUrl} or {from, ses: {region}} (default app: HERALD_EMAIL_FROM with HERALD_SMTP_URL or HERALD_SES_REGION)';

/**
 * Where an app's e-mail goes. An app whose `email` names only a sender uses this server's
 * HERALD_SMTP_URL / HERALD_SES_REGION (a shared relay); the default app falls back to the
 * HERALD_* variables entirely.
 */
export function routeFor(app: AppCredentials, config: ChannelDeps['config']['email']): Route {
  const own: EmailCredentials | undefined = app.email ?? (app.id === 'default' && config.from ? { from: config.from } : undefined);
  if (!own) return { kind: 'none', problem: `app ${app.id} has no e-mail configuration: ${CONFIGURE}` };
  const from = own.from || config.from;
  if (!from) return { kind: 'none', problem: `app ${app.id} has no e-mail sender address: ${CONFIGURE}` };
  if (own.smtpUrl) return { kind: 'smtp', from, url: own.smtpUrl };
  if (own.ses?.region) return { kind: 'ses', from, region: own.ses.region };
  if (config.smtpUrl) return { kind: 'smtp', from, url: config.smtpUrl };
  if (config.sesRegion) return { kind: 'ses', from, region: config.sesRegion };
  return { kind: 'none', problem: `app ${app.id} has no SMTP server or SES region for e-mail: ${CONFIGURE}` };
}

/**
 * The e-mail channel: one delivery = one message to `job.user.email`, over a pooled SMTP
 * transport or SES v2, chosen per app. Transports are created on first use and kept.
 */
export class EmailChannel implements Channel {
  readonly provider = 'email' as const;
  readonly maxAttempts: number;
  readonly #deps: ChannelDeps;
  readonly #options: EmailChannelOptions;
  readonly #smtp = new Map<string, SmtpSender>();
  readonly #smtpUsedAt = new Map<string, number>();
  readonly #ses = new Map<string, SesSender>();
  readonly #inflight = new Set<Promise<Verdict>>();
  readonly #counter: Counter<'transport' | 'status'>;
  #closing = false;

  constructor(deps: ChannelDeps, options: EmailChannelOptions = {}) {
    this.#deps = deps;
    this.#options = options;
    this.maxAttempts = options.maxAttempts ?? 8;
    const name = 'herald_email_messages_total';
    this.#counter = (deps.metrics.getSingleMetric(name) as Counter<'transport' | 'status'> | undefined)
      ?? new Counter({ name, help: 'e-mail send attempts by transport and verdict', labelNames: ['transport', 'status'], registers: [deps.metrics] });
  }

  send(job: DeliveryJob): Promise<Verdict> {
    if (this.#closing) return Promise.resolve({ status: 'retry', error: 'e-mail channel is shutting down' });
    const pending = this.#send(job).catch((error: unknown): Verdict => ({
      status: 'retry',
      error: `e-mail: unexpected ${error instanceof Error ? error.message : String(error)}`,
    }));
    this.#inflight.add(pending);
    void pending.finally(() => this.#inflight.delete(pending));
    return pending;
  }

  async #send(job: DeliveryJob): Promise<Verdict> {
    const user = job.user;
    if (!user) return { status: 'failed', error: 'e-mail needs a user with an email address; this delivery has none' };
    const to = user.email?.trim();
    if (!to) return { status: 'failed', error: `user ${user.id} has no email address` };
    // Addresses are checked when stored, but a row written before that (or by hand) must not
    // become a list of recipients or a header in the To: line.
    if (!isSingleMailbox(to)) return { status: 'failed', error: `user ${user.id}'s email address is not one mailbox` };
    const app = await this.#deps.credentials.get(job.appId);
    if (!app) return { status: 'failed', error: `unknown app ${job.appId}` };
    const route = routeFor(app, this.#deps.config.email);
    if (route.kind === 'none') return this.#settle(job, 'none', { status: 'failed', error: route.problem, appProblem: route.problem });
    const mail = composeEmail(job, route.from, to);
    const verdict = route.kind === 'smtp' ? await this.#smtpSender(route.url).send(mail) : await this.#sesSender(route.region).send(mail);
    return this.#settle(job, route.kind, verdict);
  }

  /** Counts the verdict; an appProblem it carries is recorded on the app by the engine (src/dispatch/app-problems.ts). */
  #settle(_job: DeliveryJob, transport: string, verdict: Verdict): Verdict {
    this.#counter.inc({ transport, status: verdict.status });
    return verdict;
  }

  #smtpSender(url: string): SmtpSender {
    const now = Date.now();
    let sender = this.#smtp.get(url);
    if (!sender) {
      // A rotated SMTP password is a new URL: pools nobody used for a while are closed here
      // rather than kept open for the life of the process.
      for (const [old, usedAt] of this.#smtpUsedAt) {
        if (now - usedAt > SMTP_IDLE_MS) {
          this.#smtp.get(old)?.close();
          this.#smtp.delete(old);
          this.#smtpUsedAt.delete(old);
        }
      }
      sender = new SmtpSender(url, { maxConnections: this.#options.maxConnections ?? 5, tls: this.#options.tls });
      this.#smtp.set(url, sender);
    }
    this.#smtpUsedAt.set(url, now);
    return sender;
  }

  #sesSender(region: string): SesSender {
    let sender = this.#ses.get(region);
    if (!sender) {
      sender = new SesSender(region, this.#options.ses);
      this.#ses.set(region, sender);
    }
    return sender;
  }

  /** Lets in-flight messages finish (up to `graceMs`), then closes every connection. */
  async close(graceMs = 10_000): Promise<void> {
    this.#closing = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#inflight]),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); }),
    ]);
    clearTimeout(timer);
    for (const sender of this.#smtp.values()) sender.close();
    for (const sender of this.#ses.values()) sender.close();
    this.#smtp.clear();
    this.#smtpUsedAt.clear();
    this.#ses.clear();
  }
}
