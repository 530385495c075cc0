import type { Queryable } from '../db/pool.ts';
import type { ReminderRow } from '../core/hooks.ts';
import { EVENT_INSERT_WITH_ACTOR } from '../events/outbox.ts';
import { currentActor } from '../events/actor.ts';
import type { EventType } from '../events/types.ts';

/** The reminders table: every query on it lives here. */
export interface Reminder extends ReminderRow {
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export type ReminderValues = Omit<ReminderRow, 'id' | 'userId'>;

interface Row {
  id: string;
  user_id: string;
  app_id: string;
  date: Date;
  title: string | null;
  message: string;
  url: string | null;
  notify_offset: number;
  channels: string[];
  recurrence: string | null;
  timezone: string | null;
  next_fire_at: Date | null;
  template: ReminderRow['template'];
  topic: string | null;
  type: string | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `id, user_id, app_id, date, title, message, url, notify_offset, channels, recurrence, timezone,
  next_fire_at, template, topic, type, created_at, updated_at`;

function toReminder(r: Row): Reminder {
  return {
    id: r.id,
    userId: r.user_id,
    appId: r.app_id,
    date: r.date,
    title: r.title,
    message: r.message,
    url: r.url,
    notifyOffset: r.notify_offset,
    channels: r.channels,
    recurrence: r.recurrence,
    timezone: r.timezone,
    nextFireAt: r.next_fire_at,
    template: r.template ?? null,
    topic: r.topic,
    type: r.type,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const values = (v: ReminderValues) => [v.appId, v.date, v.title, v.message, v.url, v.notifyOffset, v.channels, v.recurrence, v.timezone, v.nextFireAt, v.template ? JSON.stringify(v.template) : null, v.topic ?? null, v.type ?? null];

/** An event row written by the same statement as the change (the outbox of src/events/outbox.ts, inlined to save a round trip). */
export interface InlineEvent {
  readonly type: Extract<EventType, `reminder:${string}`>;
  readonly data: unknown;
}

/**
 * Create the user row if needed, the reminder and its event in one statement: one round trip
 * instead of three on the hottest write path. The foreign key sees the user inserted by the CTE
 * because PostgreSQL checks it at the end of the statement.
 */
export async function insertReminder(db: Queryable, id: string, userId: string, v: ReminderValues, event: InlineEvent): Promise<Reminder> {
  const { rows } = await db.query<Row>(
    `WITH u AS (INSERT INTO users (id) VALUES ($2) ON CONFLICT (id) DO NOTHING),
     r AS (
       INSERT INTO reminders (id, user_id, app_id, date, title, message, url, notify_offset, channels, recurrence, timezone, next_fire_at, template, topic, type)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14, $15) RETURNING ${COLUMNS}),
     e AS (${EVENT_INSERT_WITH_ACTOR} SELECT user_id, $16, 'reminder', id, $17::jsonb, $18 FROM r)
     SELECT * FROM r`,
    [id, userId, ...values(v), event.type, JSON.stringify(event.data ?? {}), currentActor()],
  );
  return toReminder(rows[0]!);
}

/** Update the reminder and write its event in one statement. */
export async function updateReminder(db: Queryable, id: string, v: ReminderValues, event: InlineEvent): Promise<Reminder> {
  const { rows } = await db.query<Row>(
    `WITH r AS (
       UPDATE reminders SET app_id = $2, date = $3, title = $4, message = $5, url = $6, notify_offset = $7, channels = $8,
         recurrence = $9, timezone = $10, next_fire_at = $11, template = $12::jsonb, topic = $13, type = $14, updated_at = now()
       WHERE id = $1 RETURNING ${COLUMNS}),
     e AS (${EVENT_INSERT_WITH_ACTOR} SELECT user_id, $15, 'reminder', id, $16::jsonb, $17 FROM r)
     SELECT * FROM r`,
    [id, ...values(v), event.type, JSON.stringify(event.data ?? {}), currentActor()],
  );
  return toReminder(rows[0]!);
}

/** The user's reminder (optionally locked for update); another user's is as good as missing. */
export async function findReminder(db: Queryable, userId: string, id: string, lock = false): Promise<Reminder | undefined> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM reminders WHERE id = $1 AND user_id = $2${lock ? ' FOR UPDATE' : ''}`,
    [id, userId],
  );
  return rows[0] ? toReminder(rows[0]) : undefined;
}

/** Newest first, with the total for paging (the old NestJS system's limit/offset/total). */
export async function listReminders(db: Queryable, userId: string, limit: number, offset: number): Promise<{ items: Reminder[]; total: number }> {
  // The window count is taken before LIMIT: page and total in one query (a second one only for a page past the end).
  const page = await db.query<Row & { total: number }>(
    `SELECT ${COLUMNS}, count(*) OVER ()::int AS total FROM reminders WHERE user_id = $1
      ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`,
    [userId, limit, offset],
  );
  if (page.rows.length > 0) return { items: page.rows.map(toReminder), total: page.rows[0]!.total };
  const count = await db.query<{ total: number }>(`SELECT count(*)::int AS total FROM reminders WHERE user_id = $1`, [userId]);
  return { items: [], total: count.rows[0]?.total ?? 0 };
}

export async function deleteReminder(db: Queryable, userId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM reminders WHERE id = $1 AND user_id = $2`, [id, userId]);
  return (rowCount ?? 0) > 0;
}

/** Reminders whose occurrence has come (the scheduler), locked for this transaction, skipping rows another scheduler holds. */
export async function claimDueReminders(db: Queryable, limit: number, at: Date | null): Promise<Reminder[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM reminders WHERE next_fire_at <= COALESCE($2, now())
      ORDER BY next_fire_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
    [limit, at],
  );
  return rows.map(toReminder);
}

export async function setNextFireAt(db: Queryable, id: string, next: Date | null): Promise<void> {
  await db.query(`UPDATE reminders SET next_fire_at = $2, updated_at = now() WHERE id = $1`, [id, next]);
}

/** Milliseconds until the earliest next_fire_at (negative when overdue), or null when none. */
export async function msUntilNextFire(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ ms: number | null }>(
    `SELECT extract(epoch FROM min(next_fire_at) - now()) * 1000 AS ms FROM reminders WHERE next_fire_at IS NOT NULL`,
  );
  return rows[0]?.ms ?? null;
}
