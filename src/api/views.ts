import type { User } from '../users/index.ts';
import type { Device } from '../devices/index.ts';
import type { Reminder } from '../reminders/index.ts';
import type { StoredEvent } from '../events/index.ts';
import type { AppView } from '../apps/index.ts';
import type { NotificationRecord } from '../notifications/service.ts';
import type { DeliveryRow } from '../notifications/repository.ts';
import { stepStatus, type StoredStep } from '../notifications/fallback-steps.ts';

/** Domain objects as the API shows them: RFC 3339 timestamps, absent rather than null where docs/api.md says "optional". */
const iso = (d: Date) => d.toISOString();

export function userView(u: User) {
  return { id: u.id, email: u.email, name: u.name, timezone: u.timezone, locale: u.locale, preferences: u.preferences, quietHours: u.quietHours, sendWindow: u.sendWindow, createdAt: iso(u.createdAt), updatedAt: iso(u.updatedAt) };
}

export function deviceView(d: Device) {
  return {
    id: d.id,
    userId: d.userId,
    appId: d.appId,
    platform: d.platform,
    token: d.token,
    ...(d.subscription ? { subscription: d.subscription } : {}),
    name: d.name,
    environment: d.environment,
    status: d.status,
    ...(d.invalidReason ? { invalidReason: d.invalidReason } : {}),
    ...(d.invalidatedAt ? { invalidatedAt: iso(d.invalidatedAt) } : {}),
    registeredAt: iso(d.registeredAt),
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
  };
}

export function reminderView(r: Reminder) {
  const single = r.channels.length === 1 ? r.channels[0] : undefined;
  return {
    id: r.id,
    userId: r.userId,
    appId: r.appId,
    date: iso(r.date),
    title: r.title,
    message: r.message,
    url: r.url,
    notifyOffset: r.notifyOffset,
    channels: [...r.channels],
    ...(single === 'push' || single === 'email' ? { notifyType: single } : {}),
    isRecurring: r.recurrence !== null,
    recurrence: r.recurrence,
    timezone: r.timezone,
    nextFireAt: r.nextFireAt ? iso(r.nextFireAt) : null,
    ...(r.template ? { template: { key: r.template.key, version: r.template.version, data: r.template.data } } : {}),
    ...(r.topic ? { topic: r.topic } : {}),
    ...(r.type ? { type: r.type } : {}),
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
  };
}

export function eventView(e: StoredEvent) {
  return { id: e.id, type: e.type, itemType: e.itemType, itemId: e.itemId, data: e.data, createdAt: iso(e.createdAt) };
}

export function appView(a: AppView) {
  return { ...a, createdAt: a.createdAt ? iso(a.createdAt) : null, updatedAt: a.updatedAt ? iso(a.updatedAt) : null };
}

/**
 * Who reads a notification. A delivery's lastErrorDetail (a provider's answer body, a network error
 * naming an address) is for operators only (API-key routes): for Web Push the provider is any URL
 * the end user chose.
 */
export type Audience = 'operator' | 'user';

/**
 * `recipients`: the user ids to show instead of the whole audience. Read by the user themselves
 * (the `/v1/me` routes) they are shown as the only recipient — the audience of a notification is
 * the application's business, not something one recipient may learn (a broadcast would list every
 * other user's id).
 */
export function notificationView(record: NotificationRecord, audience: Audience, recipients?: readonly string[]) {
  const { notification: n, deliveries, status, counts, broadcast: b } = record;
  const payload = n.payload as { title?: string; body?: string; template?: { key: string; version: number } };
  const isoOrNone = (d: Date | null | undefined) => (d ? iso(d) : undefined);
  return {
    id: n.id,
    status,
    sendAt: iso(n.send_at),
    localTime: n.local_time_text ?? undefined,
    createdAt: iso(n.created_at),
    source: n.source ?? undefined,
    appId: n.app_id,
    reminderId: n.reminder_id ?? undefined,
    userIds: [...(recipients ?? n.user_ids)],
    channels: n.channels,
    title: payload.title,
    body: payload.body,
    cancelledAt: isoOrNone(n.cancelled_at),
    template: payload.template ? { key: payload.template.key, version: payload.template.version } : undefined,
    type: n.type ?? undefined,
    // A broadcast's audience and progress are the application's business: operators only.
    audience: b && audience === 'operator'
      ? {
          kind: b.kind,
          topic: b.topic_key ?? undefined,
          status: b.status,
          recipients: b.recipients ?? 0,
          fannedOut: b.fanned_out,
          deliveries: b.deliveries,
          complete: b.status === 'complete',
          startedAt: isoOrNone(b.audience_at),
          completedAt: isoOrNone(b.completed_at),
        }
      : undefined,
    counts: counts ? { pending: counts.pending, sending: counts.sending, sent: counts.sent, failed: counts.failed, expired: counts.expired, cancelled: counts.cancelled, capped: counts.capped, digested: counts.digested } : undefined,
    steps: n.steps ? stepsView(n.steps, deliveries) : undefined,
    deliveries: deliveries.map(deliveryView(audience)),
  };
}

/** A fallback chain with the outcome of each step's deliveries (those shown: a user sees their own). */
function stepsView(steps: readonly StoredStep[], deliveries: readonly DeliveryRow[]) {
  return steps.map((step, i) => {
    const counts = { pending: 0, sending: 0, sent: 0, failed: 0, expired: 0, cancelled: 0, capped: 0 };
    for (const d of deliveries) if (d.step === i && d.status in counts) counts[d.status as keyof typeof counts] += 1;
    return { channels: [...step.channels], after: step.after ?? undefined, unless: step.unless ?? undefined, status: stepStatus(counts), counts };
  });
}

/** One delivery as a reader sees it (lastErrorDetail for operators only). */
export function deliveryView(audience: Audience) {
  const isoOrNone = (d: Date | null | undefined) => (d ? iso(d) : undefined);
  return (d: DeliveryRow) => ({
    id: d.id,
    channel: d.channel,
    provider: d.provider,
    userId: d.user_id ?? undefined,
    deviceId: d.device_id ?? undefined,
    status: d.status,
    attempts: d.attempts,
    dueAt: iso(d.due_at),
    lastError: d.last_error ?? undefined,
    lastErrorDetail: audience === 'operator' ? (d.last_error_detail ?? undefined) : undefined,
    providerId: d.provider_id ?? undefined,
    sentAt: isoOrNone(d.sent_at),
    step: d.step,
    deferredBy: d.deferred_by,
  });
}
