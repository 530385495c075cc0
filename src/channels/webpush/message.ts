import { createHash } from 'node:crypto';
import type { DeliveryJob } from '../types.ts';

/**
 * What herald puts in a Web Push message and its headers (RFC 8030 §5).
 *
 * The payload is JSON the site's service worker reads in its `push` handler:
 * `{title, body, image, url, data, tag, badge, notificationId}`, with the notification's
 * `webpush` object merged over it, so a site can add `icon`, `actions`, `requireInteraction`...
 */
export const DEFAULT_TTL_SECONDS = 28 * 24 * 3600;

export function webPushPayload(job: DeliveryJob): Buffer {
  const c = job.content;
  const payload: Record<string, unknown> = {
    title: c.title,
    body: c.body,
    image: c.image,
    url: c.url,
    data: c.data,
    tag: c.collapseId,
    badge: c.badge,
    notificationId: job.notificationId,
    ...(c.webpush ?? {}),
  };
  return Buffer.from(JSON.stringify(payload), 'utf8');
}

/** `TTL` is required (RFC 8030 §5.2): seconds until the delivery expires, else the notification's ttl. */
export function webPushTtl(job: DeliveryJob, now: number): number {
  if (job.expiresAt) return Math.max(0, Math.floor((job.expiresAt.getTime() - now) / 1000));
  return job.content.ttlSeconds ?? DEFAULT_TTL_SECONDS;
}

/**
 * `Urgency` (RFC 8030 §5.3): `high` when asked for (`high` or `critical`), `low` for background pushes, else the RFC's
 * default `normal` — devices on battery may hold back anything below high.
 */
export function webPushUrgency(job: DeliveryJob): 'very-low' | 'low' | 'normal' | 'high' {
  if (job.content.priority === 'high' || job.content.priority === 'critical') return 'high';
  if (job.content.pushType === 'background') return 'low';
  return 'normal';
}

/**
 * `Topic` (RFC 8030 §5.4): at most 32 characters of the base64url alphabet. A collapse id that
 * fits is used as is; any other is hashed, so equal ids still replace each other.
 */
export function webPushTopic(collapseId: string | undefined): string | undefined {
  if (!collapseId) return undefined;
  if (/^[A-Za-z0-9_-]{1,32}$/.test(collapseId)) return collapseId;
  return createHash('sha256').update(collapseId).digest('base64url').slice(0, 32);
}
