import type { CreateOptions, NotificationInput } from '../notifications/types.ts';

/**
 * The old APNs worker's Pub/Sub message → a notification for one iOS device. The message format is the
 * original worker's, unchanged, so its publishers keep working:
 *   body                  the APNs JSON payload (`aps` + custom top-level keys), sent as is
 *   attribute `to`        the device token (hex)
 *   attribute `identifier` the collapse id (apns-collapse-id)
 *   attribute `appId`     (herald's addition, optional) the app whose credentials send it
 * A message older than the maximum age by publish time is dropped, never sent; the rest expire
 * at publish time + maximum age (the old APNs worker's apns-expiration).
 */

export interface IngestMessage {
  readonly id: string;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  readonly publishTime: Date;
}

export type Decision =
  | { readonly kind: 'create'; readonly input: NotificationInput; readonly options: CreateOptions }
  | { readonly kind: 'drop'; readonly outcome: 'expired' | 'invalid'; readonly reason: string };

export function decide(message: IngestMessage, maxAgeSeconds: number, now = Date.now()): Decision {
  const expiresAt = message.publishTime.getTime() + maxAgeSeconds * 1000;
  if (now >= expiresAt) {
    return { kind: 'drop', outcome: 'expired', reason: `published more than ${maxAgeSeconds} s ago` };
  }
  const token = message.attributes.to?.trim();
  if (!token) return { kind: 'drop', outcome: 'invalid', reason: 'no `to` attribute (device token)' };
  let payload: unknown;
  try {
    payload = JSON.parse(message.data.toString('utf8'));
  } catch {
    return { kind: 'drop', outcome: 'invalid', reason: 'the body is not JSON' };
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return { kind: 'drop', outcome: 'invalid', reason: 'the body is not a JSON object (an APNs payload)' };
  }
  const identifier = message.attributes.identifier?.trim();
  const input: NotificationInput = {
    to: { device: { platform: 'ios', token } },
    channels: ['push'],
    apns: { payload: payload as Record<string, unknown> },
    ...(identifier ? { collapseId: identifier } : {}),
    ...(message.attributes.appId ? { appId: message.attributes.appId } : {}),
  };
  return {
    kind: 'create',
    input,
    // The message id makes redeliveries (Pub/Sub is at-least-once) one notification.
    options: { source: 'ingest-apns', expiresAt: new Date(expiresAt), dedupeKey: `pubsub:${message.id}` },
  };
}
