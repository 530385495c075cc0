import { request, type Agent } from 'undici';
import { Counter, type Registry } from 'prom-client';
import type { AppCredentialStore, WebPushCredentials } from '../../apps/types.ts';
import type { Logger } from '../../log/index.ts';
import { outboundAgent, outboundRefusal, type OutboundPolicy } from '../../outbound/index.ts';
import type { Channel, DeliveryJob, Verdict } from '../types.ts';
import { parseRetryAfter } from '../retry-after.ts';
import { decodeKeys, encryptPayload, MAX_PLAINTEXT_BYTES, SubscriptionKeyError } from './encrypt.ts';
import { VapidSigner } from './vapid.ts';
import { webPushPayload, webPushTopic, webPushTtl, webPushUrgency } from './message.ts';

export interface WebPushChannelDeps {
  readonly credentials: AppCredentialStore;
  readonly log: Logger;
  readonly metrics?: Registry | undefined;
  /** The endpoint is the end user's choice: every connection passes this policy (src/outbound/). */
  readonly outbound: OutboundPolicy;
}

export interface WebPushOptions {
  /** Extra trusted CA (PEM) for in-process tests against a fake push service. */
  readonly ca?: string | Buffer | undefined;
  /** Keep-alive connections per push service origin. */
  readonly connectionsPerOrigin?: number | undefined;
  readonly requestTimeoutMs?: number | undefined;
  readonly now?: (() => number) | undefined;
}

/** How much of a push service's answer is kept for operators (`lastErrorDetail`). */
const DETAIL_CHARS = 300;

/**
 * The Web Push channel (RFC 8030 + 8291 + 8292): encrypts each message for its subscription,
 * signs with the app's VAPID key and POSTs it to the subscription's endpoint over pooled
 * keep-alive connections (one pool per push service origin, shared by all apps).
 */
export class WebPushChannel implements Channel {
  readonly provider = 'webpush' as const;
  readonly maxAttempts = 8;
  readonly #deps: WebPushChannelDeps;
  readonly #dispatcher: Agent;
  readonly #vapid: VapidSigner;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #counter: Counter<'outcome'> | undefined;

  constructor(deps: WebPushChannelDeps, options: WebPushOptions = {}) {
    this.#deps = deps;
    this.#now = options.now ?? Date.now;
    this.#vapid = new VapidSigner(this.#now);
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#dispatcher = outboundAgent(deps.outbound, {
      connections: options.connectionsPerOrigin ?? 16,
      keepAliveTimeout: 60_000,
      ca: options.ca,
    });
    const name = 'herald_webpush_sends_total';
    this.#counter = deps.metrics
      ? ((deps.metrics.getSingleMetric(name) as Counter<'outcome'> | undefined) ??
        new Counter({ name, help: 'Web Push sends by verdict', labelNames: ['outcome'], registers: [deps.metrics] }))
      : undefined;
  }

  async send(job: DeliveryJob): Promise<Verdict> {
    let verdict: Verdict;
    try {
      verdict = await this.#send(job);
    } catch (err) {
      verdict = { status: 'retry', error: 'Web Push: sending failed in herald', detail: err instanceof Error ? err.message : String(err) };
    }
    this.#counter?.inc({ outcome: verdict.status });
    return verdict;
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  async #send(job: DeliveryJob): Promise<Verdict> {
    const subscription = job.device?.subscription;
    if (!subscription?.endpoint) return { status: 'failed', error: 'the web device has no Web Push subscription' };
    const app = await this.#deps.credentials.get(job.appId);
    if (!app) return { status: 'failed', error: `unknown app "${job.appId}"` };
    if (!app.webpush) {
      const problem = job.appId === 'default'
        ? 'Web Push is not configured: set HERALD_VAPID_PUBLIC_KEY, HERALD_VAPID_PRIVATE_KEY and HERALD_VAPID_SUBJECT'
        : `Web Push is not configured for app "${job.appId}": PUT /v1/apps/${job.appId} with webpush keys`;
      return { status: 'failed', error: problem, appProblem: problem };
    }

    const plaintext = webPushPayload(job);
    if (plaintext.length > MAX_PLAINTEXT_BYTES) {
      return { status: 'failed', error: `the Web Push payload is ${plaintext.length} bytes; at most ${MAX_PLAINTEXT_BYTES} fit in one 4096-byte record` };
    }
    let endpoint: URL;
    let body: Buffer;
    try {
      endpoint = new URL(subscription.endpoint);
      body = encryptPayload(plaintext, decodeKeys(subscription.keys));
    } catch (err) {
      // Only the subscription is input here (a bad URL, keys of the wrong size, a point not on
      // the curve): one that cannot be used now never will be, so stop sending to it.
      const reason = err instanceof SubscriptionKeyError ? err.message : (err as Error).message;
      return { status: 'device-invalid', error: `bad subscription: ${reason}` };
    }
    // Registered before the policy existed, or the allowances changed since: checked on every
    // send (and on every connection, on the resolved address, by the dispatcher).
    const refused = this.#deps.outbound.checkUrl(endpoint);
    if (refused) return notAllowed(refused.reason);
    const authorization = this.#authorization(app.webpush, endpoint.origin);
    if (typeof authorization !== 'string') return authorization;

    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'content-encoding': 'aes128gcm',
      ttl: String(webPushTtl(job, this.#now())),
      urgency: webPushUrgency(job),
      authorization,
    };
    const topic = webPushTopic(job.content.collapseId);
    if (topic) headers.topic = topic;

    let response;
    try {
      response = await request(endpoint, {
        method: 'POST',
        headers,
        body,
        dispatcher: this.#dispatcher,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
    } catch (err) {
      const refusal = outboundRefusal(err);
      if (refusal) return notAllowed(refusal.reason);
      // The reason (refused, reset, timed out, which address) stays with operators: told to the
      // end user it would make herald a port scanner of whatever the endpoint names.
      return { status: 'retry', error: 'Web Push: the push service could not be reached', detail: (err as Error).message };
    }
    const text = (await response.body.text().catch(() => '')).slice(0, DETAIL_CHARS);
    return this.#verdict(response.statusCode, response.headers, text);
  }

  #authorization(credentials: WebPushCredentials, audience: string): string | Verdict {
    try {
      return this.#vapid.authorization({ publicKey: credentials.vapidPublicKey, privateKey: credentials.vapidPrivateKey }, credentials.subject, audience);
    } catch (err) {
      const problem = `the app's VAPID keys are not usable: ${(err as Error).message}`;
      return { status: 'failed', error: problem, appProblem: problem };
    }
  }

  /**
   * Status codes from RFC 8030 §5 / §6 and the push services' docs. The endpoint belongs to the
   * end user, so its answer body and headers are input: the body goes to operators only
   * (`detail`), Retry-After is clamped, and no answer changes the app's credential status.
   */
  #verdict(status: number, headers: Record<string, string | string[] | undefined>, text: string): Verdict {
    const error = `push service answered ${status}`;
    const detail = text || undefined;
    if (status === 201 || status === 200 || status === 202) {
      const location = headers.location;
      return { status: 'sent', providerId: Array.isArray(location) ? location[0] : location };
    }
    // 404 Not Found / 410 Gone: the subscription expired or the user revoked it.
    if (status === 404 || status === 410) return { status: 'device-invalid', error, detail };
    if (status === 429 || status >= 500) return { status: 'retry', error, detail, retryAfterMs: parseRetryAfter(headers['retry-after'], this.#now()) };
    if (status === 413) return { status: 'failed', error, detail };
    // 401/403: the push service refused our VAPID JWT — or the subscription was made with another
    // applicationServerKey, or the "push service" is any server the user pointed the endpoint at.
    // Nothing here proves the app's keys are wrong (they were usable: we signed with them), so it
    // fails this delivery and leaves the app's status alone; a real key problem shows as every
    // web delivery failing with 401/403, which operators see in lastErrorDetail and the metrics.
    return { status: 'failed', error, detail };
  }

}

/** The endpoint's address is refused by the outbound policy: permanent, not retried. */
function notAllowed(reason: string): Verdict {
  return { status: 'failed', error: 'the push endpoint is not allowed by this server', detail: reason };
}
