import type { User } from '../users/index.ts';
import type { Device } from '../devices/index.ts';
import type { Reminder } from '../reminders/index.ts';
import type { StoredEvent } from '../events/index.ts';
import type { AppView } from '../apps/index.ts';

/** Domain objects as the API shows them: RFC 3339 timestamps, absent rather than null where docs/api.md says "optional". */
const iso = (d: Date) => d.toISOString();

export function userView(u: User) {
  return { id: u.id, email: u.email, name: u.name, timezone: u.timezone, locale: u.locale, preferences: u.preferences, createdAt: iso(u.createdAt), updatedAt: iso(u.updatedAt) };
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
