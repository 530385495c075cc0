import type { DeliveryRow, NotificationRow } from './repository.ts';

/** A notification's deliveries counted by status; `attempted`: any delivery was tried at least once. */
export interface DeliveryCounts {
  pending: number;
  sending: number;
  sent: number;
  failed: number;
  expired: number;
  cancelled: number;
  /** Dropped by a frequency cap (docs/timing.md). */
  capped: number;
  /** Held for a digest and delivered in it (docs/timing.md). */
  digested: number;
  attempted: boolean;
}

export function countDeliveries(deliveries: readonly DeliveryRow[]): DeliveryCounts {
  const c: DeliveryCounts = { pending: 0, sending: 0, sent: 0, failed: 0, expired: 0, cancelled: 0, capped: 0, digested: 0, attempted: false };
  for (const d of deliveries) {
    if (d.status in c && d.status !== 'attempted') (c as unknown as Record<string, number>)[d.status]! += 1;
    if (d.attempts > 0) c.attempted = true;
  }
  return c;
}

/**
 * A notification's status, derived from its deliveries (the work queue is the truth; keeping a
 * second copy on the notification row would make it a hot spot every delivery updates):
 * - cancelled: cancelled before sending (or every delivery dropped by a frequency cap)
 * - scheduled: nothing attempted yet and its time has not come
 * - pending / sending: work remains
 * - sent: every delivery ended and all that could be sent were
 * - digested: every delivery ended in digests (docs/timing.md), none sent on its own
 * - partial: some sent, some failed or expired
 * - failed / expired: none sent
 * - undeliverable: nothing to deliver to (no devices, every channel switched off)
 * A broadcast whose fan-out has not finished (`fanningOut`) is scheduled, pending or sending.
 */
export function notificationStatus(n: NotificationRow, deliveries: readonly DeliveryRow[], now = new Date()): string {
  return statusFromCounts(n, countDeliveries(deliveries), now);
}

export function statusFromCounts(n: Pick<NotificationRow, 'cancelled_at' | 'send_at'>, c: DeliveryCounts, now = new Date(), fanningOut = false): string {
  if (n.cancelled_at) return 'cancelled';
  if (fanningOut) return n.send_at > now ? 'scheduled' : c.attempted || c.sent > 0 ? 'sending' : 'pending';
  const total = c.pending + c.sending + c.sent + c.failed + c.expired + c.cancelled + c.capped + c.digested;
  if (total === 0) return 'undeliverable';
  if (c.sending > 0) return 'sending';
  if (c.pending > 0) return !c.attempted && n.send_at > now ? 'scheduled' : 'pending';
  if (c.sent > 0) return c.failed + c.expired > 0 ? 'partial' : 'sent';
  if (c.digested > 0) return c.failed + c.expired > 0 ? 'partial' : 'digested';
  if (c.failed > 0) return 'failed';
  if (c.expired > 0) return 'expired';
  return 'cancelled';
}
