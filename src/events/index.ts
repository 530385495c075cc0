export { EventService } from './service.ts';
export type { StoredEvent } from './repository.ts';
export { appendEvent, appendEvents, EVENT_INSERT, type NewEvent } from './outbox.ts';
export { EVENT_TYPES, eventTypeSql, type EventType, type EventItemType } from './types.ts';
