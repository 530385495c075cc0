import { createHash } from 'node:crypto';
import type { DeliveryJob, NotificationContent } from '../types.ts';

/**
 * Builds the APNs request (headers + JSON body) for one delivery. Header and payload rules are
 * Apple's "Sending notification requests to APNs":
 * https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns
 */

export type PushType = NonNullable<NotificationContent['pushType']>;

/** Apple's payload limits: 4 KB, 5 KB for VoIP. */
export const MAX_PAYLOAD_BYTES = 4096;
export const MAX_VOIP_PAYLOAD_BYTES = 5120;

/** Topic suffixes Apple requires per push type (the bundle id alone for the rest). */
const TOPIC_SUFFIX: Partial<Record<PushType, string>> = {
  voip: '.voip',
  complication: '.complication',
  fileprovider: '.pushkit.fileprovider',
  location: '.location-query',
  liveactivity: '.push-type.liveactivity',
  pushtotalk: '.voip-ptt',
};

export interface ApnsRequest {
  readonly token: string;
  /** `:method` and `:path` included; the channel adds `authorization` for token auth. */
  readonly headers: Record<string, string>;
  readonly body: string;
}

export type BuildResult = { readonly ok: true; readonly request: ApnsRequest } | { readonly ok: false; readonly error: string };

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * APNs requires `apns-id` to be a canonical UUID. Delivery ids already are (UUIDv7); anything
 * else is mapped to a name-based UUID (v5 layout over SHA-1) so a retry reuses the same id.
 */
export function apnsIdFor(deliveryId: string): string {
  if (UUID_RE.test(deliveryId)) return deliveryId.toLowerCase();
  const b = createHash('sha1').update('herald-apns:').update(deliveryId).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Apple caps apns-collapse-id at 64 bytes; longer ids become their SHA-256 hex (as the old APNs worker did). */
export function collapseIdHeader(id: string): string {
  return Buffer.byteLength(id) > 64 ? createHash('sha256').update(id).digest('hex') : id;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The payload from the notification's fields, then the `apns.payload` override merged over it. */
export function buildPayload(content: NotificationContent): Json {
  const aps: Json = {};
  const alert: Json = {};
  if (content.title !== undefined) alert.title = content.title;
  if (content.subtitle !== undefined) alert.subtitle = content.subtitle;
  if (content.body !== undefined) alert.body = content.body;
  if (Object.keys(alert).length > 0) aps.alert = alert;
  if (content.badge !== undefined) aps.badge = content.badge;
  if (content.sound !== undefined) aps.sound = content.sound;
  if (content.category !== undefined) aps.category = content.category;
  if (content.threadId !== undefined) aps['thread-id'] = content.threadId;
  // A background push wakes the app only with content-available: 1 (Apple: "Pushing background
  // updates to your App"); without it APNs accepts the request and the app never runs.
  if (content.contentAvailable || content.pushType === 'background') aps['content-available'] = 1;
  if (content.mutableContent) aps['mutable-content'] = 1;
  if (content.interruptionLevel !== undefined) aps['interruption-level'] = content.interruptionLevel;
  const payload: Json = {};
  // Custom keys live beside `aps` at the top level; `aps` itself is Apple's.
  if (content.data) for (const [key, value] of Object.entries(content.data)) if (key !== 'aps') payload[key] = value;
  if (content.url !== undefined && payload.url === undefined) payload.url = content.url;
  payload.aps = aps;
  const override = content.apns?.payload;
  if (override) {
    for (const [key, value] of Object.entries(override)) {
      payload[key] = key === 'aps' && isObject(value) ? { ...aps, ...value } : value;
    }
  }
  return payload;
}

/**
 * The push type: the notification's own, else what the payload is. Apple: a payload with only
 * `content-available` is a background push, which must go at priority 5 (10 is rejected).
 */
export function inferPushType(content: NotificationContent, payload: Json): PushType {
  if (content.pushType) return content.pushType;
  const aps = isObject(payload.aps) ? payload.aps : {};
  const visible = aps.alert !== undefined || aps.badge !== undefined || aps.sound !== undefined;
  return aps['content-available'] === 1 && !visible ? 'background' : 'alert';
}

function priorityFor(pushType: PushType, content: NotificationContent): string {
  if (pushType === 'background') return '5';
  if (pushType === 'voip') return '10';
  return content.priority === 'normal' ? '5' : '10';
}

export function buildRequest(job: DeliveryJob, bundleId: string): BuildResult {
  const token = job.device?.token ?? '';
  if (!/^[0-9a-fA-F]{16,400}$/.test(token)) {
    return { ok: false, error: 'the device token is not an APNs token (hexadecimal)' };
  }
  const content = job.content;
  const payload = buildPayload(content);
  const pushType = inferPushType(content, payload);
  const body = JSON.stringify(payload);
  const size = Buffer.byteLength(body);
  const limit = pushType === 'voip' ? MAX_VOIP_PAYLOAD_BYTES : MAX_PAYLOAD_BYTES;
  if (size > limit) {
    return { ok: false, error: `APNs payload is ${size} bytes; APNs accepts at most ${limit} bytes for ${pushType} notifications` };
  }
  const device = token.toLowerCase();
  // The complete HTTP/2 request headers, ready for session.request() without another copy.
  const headers: Record<string, string> = {
    ':method': 'POST',
    ':path': `/3/device/${device}`,
    'apns-topic': bundleId + (TOPIC_SUFFIX[pushType] ?? ''),
    'apns-push-type': pushType,
    'apns-priority': priorityFor(pushType, content),
    // 0 = deliver now or never; otherwise APNs stores the notification until then.
    'apns-expiration': job.expiresAt ? String(Math.floor(job.expiresAt.getTime() / 1000)) : '0',
    'apns-id': apnsIdFor(job.id),
  };
  if (content.collapseId !== undefined && content.collapseId !== '') headers['apns-collapse-id'] = collapseIdHeader(content.collapseId);
  const extra = content.apns?.headers;
  if (extra) for (const [name, value] of Object.entries(extra)) headers[name.toLowerCase()] = value;
  return { ok: true, request: { token: device, headers, body } };
}
