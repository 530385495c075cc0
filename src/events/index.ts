export { EventService } from './service.ts';
export type { StoredEvent } from './repository.ts';
export { appendEvent, appendEvents, type NewEvent } from './outbox.ts';
