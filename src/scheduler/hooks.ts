import type { PoolClient, Queryable } from '../db/pool.ts';
import type { DomainHooks, ReminderRow, ReminderSave, Wakeups } from '../core/hooks.ts';
import { appendEvents } from '../events/outbox.ts';
import type { ChannelName } from '../channels/types.ts';
import { createInTransaction } from '../notifications/service.ts';
import { cancelPendingWhere, cancelReminderOccurrences, fanOutDevice } from '../notifications/repository.ts';
import { notifyDeliveriesDue, notifyRemindersDue } from '../db/wakeup.ts';

/**
 * What the engine does inside the domain services' transactions (replacing the old NestJS
 * system's event service, which learnt of reminder changes from a queue and could miss them): a saved reminder
 * gets the notification of its next occurrence, a deleted one loses it, a new device joins the
 * user's future push notifications, and a removed device or user cancels what was pending.
 */
export async function scheduleReminderOccurrence(client: Queryable, r: ReminderRow, fireAt: Date, wake?: Wakeups): Promise<string> {
  const channels = (r.channels.length > 0 ? r.channels : ['push']) as ChannelName[];
  const created = await createInTransaction(
    client,
    {
      // A reminder naming a topic broadcasts each occurrence to the topic's subscribers.
      to: r.topic ? { topic: r.topic } : { userId: r.userId },
      ...(r.type ? { type: r.type } : {}),
      appId: r.appId === 'default' ? undefined : r.appId,
      channels,
      sendAt: fireAt.toISOString(),
      title: r.title ?? 'Reminder',
      ...(r.message !== '' ? { body: r.message } : {}), // '' when a template says it all
      ...(r.url ? { url: r.url } : {}),
      data: { reminderId: r.id, ...(r.url ? { url: r.url } : {}) },
      // The version pinned when the reminder was saved, with the data checked then.
      ...(r.template ? { template: { key: r.template.key, version: r.template.version, data: r.template.data } } : {}),
    },
    // The reminder's user exists (the reminder's row refers to it): no need to make it.
    { source: 'reminder', reminderId: r.id, now: new Date(Math.min(Date.now(), fireAt.getTime())), usersExist: true, ...(wake ? { wake } : {}) },
  );
  return created.id;
}

/** Cancel the reminder's notifications that have not come due yet. */
async function cancelFutureOccurrences(client: Queryable, reminderId: string): Promise<void> {
  const cancelled = await cancelReminderOccurrences(client, reminderId);
  if (cancelled.length === 0) return;
  // A broadcast of a cancelled occurrence stops its fan-out where it is.
  await client.query(`UPDATE broadcasts SET status = 'cancelled', updated_at = now() WHERE notification_id = ANY ($1::text[]) AND status IN ('waiting', 'running')`, [cancelled.map((n) => n.id)]);
  await appendEvents(client, cancelled.flatMap((n) => n.userIds.map((u) => ({ userId: u, type: 'notification:cancelled' as const, itemType: 'notification' as const, itemId: n.id, data: { reminderId } }))));
}

export function engineHooks(base: Partial<DomainHooks> = {}): DomainHooks {
  return {
    ...base,
    async reminderSaved(client: PoolClient, reminder: ReminderRow, save: ReminderSave = {}) {
      const { wake } = save;
      if (!save.created) await cancelFutureOccurrences(client, reminder.id);
      if (reminder.nextFireAt) {
        await scheduleReminderOccurrence(client, reminder, reminder.nextFireAt, wake);
        if (wake) wake.remindersDue(reminder.nextFireAt);
        else await notifyRemindersDue(client, reminder.nextFireAt);
      }
    },
    async reminderDeleted(client: PoolClient, reminderId: string) {
      await cancelFutureOccurrences(client, reminderId);
    },
    async deviceRegistered(client, device, wake) {
      const added = await fanOutDevice(client, device.id);
      if (added === 0) return;
      if (wake) wake.deliveriesDue(new Date());
      else await notifyDeliveriesDue(client, new Date());
    },
    async deviceRemoved(client, deviceId) {
      await cancelPendingWhere(client, 'device', deviceId);
    },
    async userDeleted(client, userId) {
      await cancelPendingWhere(client, 'user', userId);
    },
  };
}
