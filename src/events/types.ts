/**
 * Every event type herald records, with the kind of item it is about. The outbox takes only these
 * (appendEvent, appendEvents, eventInsertSql), docs/events.md lists them (a test keeps it in
 * step), and subscribers of the events topic may rely on the list being closed.
 */
export const EVENT_TYPES = {
  'notification:created': 'notification',
  'notification:sent': 'notification',
  'notification:failed': 'notification',
  'notification:expired': 'notification',
  'notification:cancelled': 'notification',
  'notification:retried': 'notification',
  'notification:capped': 'notification',
  'notification:step-fired': 'notification',
  'notification:step-cancelled': 'notification',
  'reminder:created': 'reminder',
  'reminder:updated': 'reminder',
  'reminder:deleted': 'reminder',
  'reminder:fired': 'reminder',
  'device:registered': 'device',
  'device:removed': 'device',
  'device:invalidated': 'device',
  'user:updated': 'user',
  'user:deleted': 'user',
  'app:updated': 'app',
  'template:created': 'template',
  'template:updated': 'template',
  'template:deleted': 'template',
  'key:created': 'key',
  'key:revoked': 'key',
  'notification:fan-out-started': 'notification',
  'notification:fanned-out': 'notification',
  'topic:created': 'topic',
  'topic:updated': 'topic',
  'topic:deleted': 'topic',
  'subscription:created': 'topic',
  'subscription:deleted': 'topic',
  'notification-type:created': 'notification-type',
  'notification-type:updated': 'notification-type',
  'notification-type:deleted': 'notification-type',
  'preferences:updated': 'preferences',
  'digest:closed': 'digest',
} as const;

export type EventType = keyof typeof EVENT_TYPES;
export type EventItemType = (typeof EVENT_TYPES)[EventType];

/** An event type as an SQL literal, for statements that insert events from a SELECT. */
export function eventTypeSql(type: EventType): string {
  return `'${type}'`;
}
