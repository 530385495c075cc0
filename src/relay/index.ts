/** The event relay: outbox rows of `events` → HERALD_EVENTS_TOPIC on HERALD_EVENTS_BROKER (role: src/runtime/roles/relay.ts). */
export { EventRelay, eventMessage, EVENTS_CHANNEL, type RelayOptions } from './relay.ts';
export { claimEvents, markPublished, unpublishedCount, type OutboxEvent } from './store.ts';
