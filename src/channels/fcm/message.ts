import type { DeliveryJob, NotificationContent } from '../types.ts';

/**
 * Maps a herald notification onto an FCM HTTP v1 `Message`
 * (https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages).
 *
 * - `notification` {title, body, image} unless the push is a background (data-only) one;
 * - `data`: FCM accepts only string values, so anything else is JSON-encoded; keys FCM reserves
 *   ("from", "notification", "message_type", "google.*", "gcm.*") are dropped rather than
 *   having the whole message refused;
 * - `android`: priority as an AndroidMessagePriority enum name (`NORMAL`, `HIGH`:
 *   https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages#androidmessagepriority;
 *   FCM also takes the lower-case spellings, but the enum's names are what the reference defines),
 *   `ttl` as a duration string ("3600s") counted down to the delivery's
 *   expiry, `collapse_key`, notification channel id, sound, badge count;
 * - web devices on FCM: `webpush.fcm_options.link` from `url`, `webpush.headers.TTL/Urgency`;
 * - the notification's `fcm` object is a Message fragment deep-merged last, so any field
 *   (`android`, `apns`, `webpush`, `fcm_options`) can be overridden. Its herald-only key
 *   `androidChannelId` is a shorthand for `android.notification.channel_id`.
 */
export type JsonObject = { [key: string]: unknown };

const RESERVED_DATA_KEY = /^(from|notification|message_type|google\..*|gcm\..*)$/i;

export function stringData(data: NotificationContent['data'], url: string | undefined): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(data ?? {})) {
    if (RESERVED_DATA_KEY.test(key) || value === undefined) continue;
    out[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  if (url !== undefined && out.url === undefined) out.url = url;
  return Object.keys(out).length > 0 ? out : undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge: objects merge key by key, anything else in `over` replaces; undefined is skipped. */
export function deepMerge(base: JsonObject, over: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] = isObject(current) && isObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function prune(object: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(object)) {
    if (value === undefined) continue;
    if (isObject(value)) {
      const inner = prune(value);
      if (Object.keys(inner).length > 0) out[key] = inner;
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** Seconds the message may wait on FCM's side: until the delivery expires (0 = now or never). */
export function ttlSeconds(job: DeliveryJob, now: number): number | undefined {
  if (job.expiresAt) return Math.max(0, Math.ceil((job.expiresAt.getTime() - now) / 1000));
  return job.content.ttlSeconds;
}

export function buildFcmMessage(job: DeliveryJob, token: string, now: number = Date.now()): JsonObject {
  const c = job.content;
  const background = c.pushType === 'background';
  const ttl = ttlSeconds(job, now);
  const { androidChannelId, ...override } = (c.fcm ?? {}) as JsonObject;
  const web = job.device?.platform === 'web';

  const message: JsonObject = {
    token,
    notification: background ? undefined : { title: c.title, body: c.body, image: c.image },
    data: stringData(c.data, c.url),
    android: web
      ? undefined
      : {
          priority: c.priority === 'normal' || background ? 'NORMAL' : 'HIGH',
          ttl: ttl === undefined ? undefined : `${ttl}s`,
          collapse_key: c.collapseId,
          notification: background
            ? undefined
            : {
                channel_id: typeof androidChannelId === 'string' ? androidChannelId : undefined,
                sound: c.sound,
                notification_count: c.badge,
                tag: c.collapseId,
              },
        },
    webpush: web
      ? {
          headers: {
            TTL: ttl === undefined ? undefined : String(ttl),
            Urgency: c.priority === 'normal' || background ? 'normal' : 'high',
          },
          fcm_options: c.url ? { link: c.url } : undefined,
        }
      : undefined,
  };
  const built = prune(message);
  return Object.keys(override).length > 0 ? deepMerge(built, override) : built;
}
