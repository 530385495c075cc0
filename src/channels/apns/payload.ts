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
/** A delivery id as PostgreSQL hands it out (bigint): no zero in front, so each number has one spelling. */
const NUMERIC_ID_RE = /^(?:0|[1-9]\d{0,21})$/;
const ZEROS = '0'.repeat(22);

/**
 * APNs requires `apns-id` to be a canonical UUID, and a retry must carry the same one. Delivery
 * ids are numbers: their decimal digits are written into a UUID (version 8, "custom"), so the
 * delivery id can be read off its end without hashing anything: delivery 12345 is
 * `00000000-0000-8000-8000-000000012345`. UUIDs are used as they are; anything else is mapped to
 * a name-based UUID (version 5 layout over SHA-1). The three forms cannot meet: their version
 * digits differ (8, 5, and whatever the given UUID has — herald makes none of version 8).
 */
export function apnsIdFor(deliveryId: string): string {
  if (NUMERIC_ID_RE.test(deliveryId)) {
    const d = ZEROS.slice(deliveryId.length) + deliveryId; // 22 digits
    return `00000000-${d.slice(0, 4)}-8${d.slice(4, 7)}-8${d.slice(7, 10)}-${d.slice(10)}`;
  }
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

/** What a notification's content makes of every one of its APNs requests: the same for each device. */
type Shared =
  | {
      readonly ok: true;
      readonly body: string;
      readonly pushType: PushType;
      readonly topicSuffix: string;
      readonly priority: string;
      readonly collapseId: string | undefined;
      readonly extraHeaders: ReadonlyArray<readonly [string, string]> | undefined;
    }
  | { readonly ok: false; readonly error: string };

/**
 * Serialised once per notification: a notification to a user with many devices, or a broadcast,
 * reaches the channel as one delivery per device, and the body, its size check and the content's
 * headers do not depend on the device. The engine hands each delivery its own copy of the
 * content, and a template renders per recipient, so an entry is reused only for content equal to
 * the one it was built from (compared value by value, which costs less than building the body;
 * the same object skips even that). Entries are kept for the most recent notifications only;
 * what they hold is never changed (content is not modified once made).
 */
const MAX_SHARED = 256;
const shared = new Map<string, { readonly content: NotificationContent; readonly part: Shared }>();

/** The content object last built from: one given for many deliveries costs an identity check. */
let last: { readonly content: NotificationContent; readonly part: Shared } | undefined;

function sharedPart(notificationId: string, content: NotificationContent): Shared {
  if (last !== undefined && last.content === content) return last.part;
  const known = shared.get(notificationId);
  if (known !== undefined && (known.content === content || sameJson(known.content, content))) {
    last = known;
    return known.part;
  }
  const entry = { content, part: buildShared(content) };
  if (known === undefined && shared.size >= MAX_SHARED) shared.delete(shared.keys().next().value!);
  shared.set(notificationId, entry);
  last = entry;
  return entry.part;
}

/** Equal JSON values: plain objects and arrays compared member by member, anything else by identity. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b) || !isPlain(a) || !isPlain(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(b, key) || !sameJson((a as Json)[key], (b as Json)[key])) return false;
  }
  return true;
}

function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function buildShared(content: NotificationContent): Shared {
  const payload = buildPayload(content);
  const pushType = inferPushType(content, payload);
  const body = JSON.stringify(payload);
  const size = Buffer.byteLength(body);
  const limit = pushType === 'voip' ? MAX_VOIP_PAYLOAD_BYTES : MAX_PAYLOAD_BYTES;
  if (size > limit) {
    return { ok: false, error: `APNs payload is ${size} bytes; APNs accepts at most ${limit} bytes for ${pushType} notifications` };
  }
  const extra = content.apns?.headers;
  return {
    ok: true,
    body,
    pushType,
    topicSuffix: TOPIC_SUFFIX[pushType] ?? '',
    priority: priorityFor(pushType, content),
    collapseId: content.collapseId !== undefined && content.collapseId !== '' ? collapseIdHeader(content.collapseId) : undefined,
    extraHeaders: extra ? Object.entries(extra).map(([name, value]) => [name.toLowerCase(), value] as const) : undefined,
  };
}

const TOKEN_RE = /^[0-9a-fA-F]{16,400}$/;

export function buildRequest(job: DeliveryJob, bundleId: string): BuildResult {
  const token = job.device?.token ?? '';
  if (!TOKEN_RE.test(token)) {
    return { ok: false, error: 'the device token is not an APNs token (hexadecimal)' };
  }
  const common = sharedPart(job.notificationId, job.content);
  if (!common.ok) return common;
  const device = token.toLowerCase();
  // The complete HTTP/2 request headers, ready for session.request() without another copy.
  const headers: Record<string, string> = {
    ':method': 'POST',
    ':path': `/3/device/${device}`,
    'apns-topic': bundleId + common.topicSuffix,
    'apns-push-type': common.pushType,
    'apns-priority': common.priority,
    // 0 = deliver now or never; otherwise APNs stores the notification until then.
    'apns-expiration': job.expiresAt ? String(Math.floor(job.expiresAt.getTime() / 1000)) : '0',
    'apns-id': apnsIdFor(job.id),
  };
  if (common.collapseId !== undefined) headers['apns-collapse-id'] = common.collapseId;
  if (common.extraHeaders) for (const [name, value] of common.extraHeaders) headers[name] = value;
  return { ok: true, request: { token: device, headers, body: common.body } };
}
