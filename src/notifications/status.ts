import type { DeliveryRow, NotificationRow } from './repository.ts';

/**
 * A notification's status, derived from its deliveries (the work queue is the truth; keeping a
 * second copy on the notification row would make it a hot spot every delivery updates):
 * - cancelled: cancelled before sending
 * - scheduled: nothing attempted yet and its time has not come
 * - pending / sending: work remains
 * - sent: every delivery ended and all that could be sent were
 * - partial: some sent, some failed or expired
 * - failed / expired: none sent
 * - undeliverable: nothing to deliver to (no devices, every channel switched off)
 */
export function notificationStatus(n: NotificationRow, deliveries: readonly DeliveryRow[], now = new Date()): string {
  if (n.cancelled_at) return 'cancelled';
  if (deliveries.length === 0) return 'undeliverable';
  let pending = 0, sending = 0, sent = 0, failed = 0, expired = 0;
  for (const d of deliveries) {
    if (d.status === 'pending') pending++;
    else if (d.status === 'sending') sending++;
    else if (d.status === 'sent') sent++;
    else if (d.status === 'failed') failed++;
    else if (d.status === 'expired') expired++;
  }
  if (sending > 0) return 'sending';
  if (pending > 0) {
    const attempted = deliveries.some((d) => d.attempts > 0);
    return !attempted && n.send_at > now ? 'scheduled' : 'pending';
  }
  if (sent > 0) return failed + expired > 0 ? 'partial' : 'sent';
  if (failed > 0) return 'failed';
  if (expired > 0) return 'expired';
  return 'cancelled';
}
