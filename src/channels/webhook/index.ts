import { createHmac } from 'node:crypto';
import { request } from 'undici';
import { LRUCache } from 'lru-cache';
import type { Channel, ChannelDeps, DeliveryJob, Verdict } from '../types.ts';
import { parseRetryAfter } from '../retry-after.ts';
import { coerceError } from '../../log/index.ts';
import { OutboundPolicy, outboundAgent, outboundRefusal } from '../../outbound/index.ts';

/**
 * Signed webhooks: a POST of the notification JSON to the app's webhook URL (the default app:
 * HERALD_WEBHOOK_URL). With a secret, `Herald-Signature: t=<unix seconds>,v1=<hex>` where v1 is
 * HMAC-SHA256(secret, "<t>.<body>"): receivers recompute it and reject stale timestamps, which
 * stops replays. `Herald-Delivery-Id` lets receivers drop the duplicates at-least-once delivery
 * can produce. 2xx = sent; 408/429/5xx, timeouts and network errors = retry (Retry-After
 * honoured, clamped); 410 Gone and other 4xx = permanent failure. The URL is whatever an API-key
 * holder set for the app, so every connection passes the outbound policy (src/outbound/): a URL
 * aimed at loopback, private or metadata addresses fails with an app problem instead.
 */
export const SIGNATURE_HEADER = 'herald-signature';

export function signWebhook(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

export function webhookBody(job: DeliveryJob): string {
  const c = job.content;
  return JSON.stringify({
    deliveryId: job.id,
    notificationId: job.notificationId,
    appId: job.appId,
    userId: job.user?.id,
    reminderId: job.reminderId,
    attempt: job.attempt,
    title: c.title,
    subtitle: c.subtitle,
    body: c.body,
    data: c.data,
    url: c.url,
    image: c.image,
    priority: c.priority,
    collapseId: c.collapseId,
    dueAt: job.dueAt.toISOString(),
  });
}

export function createWebhookChannel(deps: ChannelDeps): Channel {
  // Keep-alive connections per origin; HTTP/1.1 without pipelining (receivers rarely support it).
  const timeout = deps.config.webhook.timeoutMs;
  const policy = deps.outbound ?? new OutboundPolicy(deps.config.outbound.allow);
  const agent = outboundAgent(policy, { connections: 128, keepAliveTimeout: 30_000, pipelining: 1, headersTimeout: timeout, bodyTimeout: timeout });
  // The policy's verdict on a URL string never changes (its allow list is fixed at start), and
  // parsing the URL and its address for every delivery cost about 7 µs each in a burst.
  const checked = new LRUCache<string, { refused: ReturnType<OutboundPolicy['checkUrl']> }>({ max: 1000 });
  const checkUrl = (url: string) => {
    let hit = checked.get(url);
    if (!hit) checked.set(url, (hit = { refused: policy.checkUrl(url) }));
    return hit.refused;
  };
  const notAllowed = (appId: string, reason: string): Verdict => {
    const problem = `the webhook URL of app ${appId} is not allowed: ${reason}; name it in HERALD_OUTBOUND_ALLOW to allow it`;
    return { status: 'failed', error: 'the webhook URL is not allowed by this server', detail: reason, appProblem: problem };
  };
  const attempt = async (job: DeliveryJob): Promise<Verdict> => {
    const app = await deps.credentials.get(job.appId).catch(() => undefined);
    const hook = app?.webhook;
    if (!hook?.url) {
      const problem = `no webhook URL configured for app ${job.appId} (HERALD_WEBHOOK_URL or the app's webhook.url)`;
      return { status: 'failed', error: problem, appProblem: problem };
    }
    const refused = checkUrl(hook.url);
    if (refused) return notAllowed(job.appId, refused.reason);
    const body = webhookBody(job);
    const ts = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'herald-webhook/1',
      'herald-delivery-id': job.id,
      'herald-notification-id': job.notificationId,
      'herald-timestamp': String(ts),
    };
    if (hook.secret) headers[SIGNATURE_HEADER] = signWebhook(hook.secret, ts, body);
    try {
      const res = await request(hook.url, { method: 'POST', body, headers, dispatcher: agent });
      await res.body.dump();
      const s = res.statusCode;
      if (s >= 200 && s < 300) return { status: 'sent', providerId: typeof res.headers['x-request-id'] === 'string' ? res.headers['x-request-id'] : undefined };
      if (s === 408 || s === 429 || s >= 500) return { status: 'retry', error: `webhook answered ${s}`, retryAfterMs: parseRetryAfter(res.headers['retry-after']) };
      return { status: 'failed', error: `webhook answered ${s}` };
    } catch (err) {
      const refusal = outboundRefusal(err);
      if (refusal) return notAllowed(job.appId, refusal.reason);
      // The receiver's address and the network error are the operator's business (detail).
      return { status: 'retry', error: 'webhook request failed', detail: coerceError(err).message };
    }
  };
  return {
    provider: 'webhook',
    maxAttempts: 10,
    // A URL that is missing or not allowed is the app's configuration: the verdict's appProblem,
    // recorded on the app (GET /v1/apps/{id}) by the engine.
    send: attempt,
    async close() {
      await agent.close();
    },
  };
}
