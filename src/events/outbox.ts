import type { Queryable } from '../db/pool.ts';
import type { EventItemType, EventType } from './types.ts';
import { currentActor } from './actor.ts';

/**
 * The transactional outbox: call these with the same client as the change they record, inside
 * its transaction, so a change and its event commit (or roll back) together. The relay
 * publishes rows with published_at IS NULL.
 */
export interface NewEvent {
  readonly userId: string | null | undefined;
  readonly type: EventType;
  readonly itemType: EventItemType;
  readonly itemId: string;
  readonly data?: unknown;
  /** Who acted; by default the current request's caller (events/actor.ts). */
  readonly actor?: string | null;
}

/**
 * The head of every statement that writes events: `${EVENT_INSERT} VALUES …` or
 * `${EVENT_INSERT} SELECT user_id, type, item_type, item_id, data FROM …` (a statement that
 * writes a change and its events together). Types in such a SELECT come from eventTypeSql.
 */
export const EVENT_INSERT = 'INSERT INTO events (user_id, type, item_type, item_id, data)';
/** The same with the actor last (`currentActor()` as a parameter), for statements the API runs. */
export const EVENT_INSERT_WITH_ACTOR = 'INSERT INTO events (user_id, type, item_type, item_id, data, actor)';

export async function appendEvent(db: Queryable, event: NewEvent): Promise<void> {
  await db.query(
    `INSERT INTO events (user_id, type, item_type, item_id, data, actor) VALUES ($1, $2, $3, $4, $5::jsonb, $6)`,
    [event.userId ?? null, event.type, event.itemType, event.itemId, JSON.stringify(event.data ?? {}), event.actor !== undefined ? event.actor : currentActor()],
  );
}

/** Many events in one statement (the engine records outcomes in slices). */
export async function appendEvents(db: Queryable, events: readonly NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.query(
    `INSERT INTO events (user_id, type, item_type, item_id, data, actor)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[])`,
    [
      events.map((e) => e.userId ?? null),
      events.map((e) => e.type),
      events.map((e) => e.itemType),
      events.map((e) => e.itemId),
      events.map((e) => JSON.stringify(e.data ?? {})),
      events.map((e) => (e.actor !== undefined ? e.actor : currentActor())),
    ],
  );
}
