import type { Pool, Queryable } from '../db/pool.ts';
import { WakeupCoalescer, withQuietTransaction } from '../db/wakeup.ts';
import { ensureRoomFor } from '../users/caps.ts';
import { uuidv7 } from '../db/ids.ts';
import { HeraldError, notFound, validation } from '../errors/index.ts';
import { appendEvent } from '../events/outbox.ts';
import type { DomainHooks } from '../core/hooks.ts';
import { findUser, ensureUser } from '../users/repository.ts';
import { appExists } from '../apps/repository.ts';
import { DAILY, firstFireTime, isValidTimeZone, parseRecurrence } from './schedule.ts';
import type { RecurrenceEvaluator } from './recurrence-pool.ts';
import { pinTemplates } from '../templates/pin.ts';
import type { TemplateRef } from '../templates/types.ts';
import {
  insertReminder,
  updateReminder,
  findReminder,
  listReminders,
  deleteReminder,
  type Reminder,
  type ReminderValues,
} from './repository.ts';

export type Channel = 'push' | 'email' | 'webhook' | 'inbox';

/** POST body (the old NestJS system's fields plus channels, recurrence and timezone). */
export interface ReminderInput {
  readonly date: string;
  /** Required unless a template is given. */
  readonly message?: string | undefined;
  readonly title?: string | null | undefined;
  readonly url?: string | null | undefined;
  readonly notifyOffset?: number | undefined;
  readonly channels?: readonly Channel[] | undefined;
  readonly notifyType?: 'push' | 'email' | undefined;
  readonly isRecurring?: boolean | undefined;
  readonly recurrence?: string | null | undefined;
  readonly timezone?: string | null | undefined;
  readonly appId?: string | undefined;
  /** A stored template its notifications render; null (PATCH) removes it. */
  readonly template?: TemplateRef | null | undefined;
  /** Broadcast each occurrence to this topic of the app (API keys only); null (PATCH) removes it. */
  readonly topic?: string | null | undefined;
  /** A notification type of the app; null (PATCH) removes it. */
  readonly type?: string | null | undefined;
}

/** PATCH body: any subset. */
export type ReminderPatch = Partial<ReminderInput>;

function parseDate(text: string): Date {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw validation('body.date: must be an RFC 3339 date-time', [{ field: 'body.date', message: 'must be an RFC 3339 date-time' }]);
  return date;
}

function channelsOf(input: ReminderPatch): Channel[] | undefined {
  if (input.channels && input.notifyType && (input.channels.length !== 1 || input.channels[0] !== input.notifyType)) {
    throw validation('body.notifyType: conflicts with channels (notifyType is a synonym of channels: [notifyType])', [{ field: 'body.notifyType', message: 'conflicts with channels' }]);
  }
  if (input.channels) return [...new Set(input.channels)];
  if (input.notifyType) return [input.notifyType];
  return undefined;
}

function recurrenceOf(input: ReminderPatch, current: string | null): string | null {
  if (input.isRecurring === false) {
    if (input.recurrence) throw validation('body.isRecurring: false conflicts with recurrence', [{ field: 'body.isRecurring', message: 'conflicts with recurrence' }]);
    return null;
  }
  if (input.recurrence !== undefined) return input.recurrence === null || input.recurrence.trim() === '' ? (input.isRecurring ? DAILY : null) : input.recurrence.trim().replace(/^RRULE:/i, '');
  if (input.isRecurring === true) return current ?? DAILY;
  return current;
}

/**
 * Reminders: each change commits with its event, and the engine schedules it in the same
 * transaction. The next occurrence is computed before the transaction opens (on the
 * recurrence evaluator's threads, under its budget), so no evaluation holds a connection or
 * a row lock.
 */
export class ReminderService {
  readonly #pool: Pool;
  readonly #hooks: () => DomainHooks;
  readonly #recurrences: RecurrenceEvaluator;
  readonly #now: () => Date;

  readonly #maxPerUser: number;
  /** Wake-ups after commit: a save NOTIFYs nothing inside its transaction (src/db/wakeup.ts). */
  readonly #wake: WakeupCoalescer;

  /** `maxPerUser`: reminders one user may have (0: any number). */
  constructor(pool: Pool, hooks: () => DomainHooks, recurrences: RecurrenceEvaluator, now: () => Date = () => new Date(), maxPerUser = 0) {
    this.#pool = pool;
    this.#wake = new WakeupCoalescer(pool);
    this.#hooks = hooks;
    this.#recurrences = recurrences;
    this.#now = now;
    this.#maxPerUser = maxPerUser;
  }

  /** Merge, validate and schedule: the values to store. Runs outside any transaction. */
  async #resolve(client: Queryable, userId: string, input: ReminderPatch, current: Reminder | undefined): Promise<ReminderValues> {
    const date = input.date !== undefined ? parseDate(input.date) : current!.date;
    const notifyOffset = input.notifyOffset ?? current?.notifyOffset ?? 0;
    const recurrence = recurrenceOf(input, current?.recurrence ?? null);
    if (recurrence) parseRecurrence(recurrence);
    if (input.timezone && !isValidTimeZone(input.timezone)) {
      throw new HeraldError('INVALID_TIMEZONE', `timezone "${input.timezone}" is not an IANA time zone`, [{ field: 'body.timezone', message: 'not an IANA time zone' }]);
    }
    let timezone = input.timezone !== undefined ? input.timezone : (current?.timezone ?? null);
    // A recurring rule needs a zone for its wall-clock times: the user's, else UTC.
    if (recurrence && !timezone) timezone = (await findUser(client, userId))?.timezone ?? 'UTC';
    const appId = input.appId ?? current?.appId ?? 'default';
    if (appId !== (current?.appId ?? 'default') && appId !== 'default' && !(await appExists(client, appId))) {
      throw new HeraldError('UNKNOWN_APP', `no app "${appId}"`, [{ field: 'body.appId', message: 'no such app' }]);
    }
    const now = this.#now();
    const rescheduled = !current || input.date !== undefined || input.notifyOffset !== undefined;
    // Any moment in the future will do: workers wake on NOTIFY and a timer set to the next due
    // time, so a reminder seconds ahead fires on time. (The old NestJS system wanted a minute of lead because
    // its scheduler ran once a minute.)
    const fireAt = firstFireTime({ date, notifyOffset });
    if (rescheduled && fireAt.getTime() <= now.getTime()) {
      throw new HeraldError('INVALID_DUEDATE', `date − notifyOffset is ${fireAt.toISOString()}, which has already passed; a reminder must fire in the future`, { fireAt: fireAt.toISOString() });
    }
    const title = input.title !== undefined ? input.title : (current?.title ?? null);
    const message = input.message ?? current?.message ?? '';
    const channels = channelsOf(input) ?? current?.channels ?? ['push'];
    const template = await this.#template(client, input, current, { appId, channels, title, message });
    const topic = input.topic !== undefined ? input.topic : (current?.topic ?? null);
    const type = input.type !== undefined ? input.type : (current?.type ?? null);
    if (topic !== null && !(await client.query(`SELECT 1 FROM topics WHERE app_id = $1 AND key = $2`, [appId, topic])).rowCount) {
      throw new HeraldError('UNKNOWN_TOPIC', `app "${appId}" has no topic "${topic}"`, [{ field: 'body.topic', message: 'no such topic' }]);
    }
    if (type !== null && !(await client.query(`SELECT 1 FROM notification_types WHERE app_id = $1 AND key = $2`, [appId, type])).rowCount) {
      throw new HeraldError('UNKNOWN_TYPE', `app "${appId}" has no notification type "${type}"`, [{ field: 'body.type', message: 'no such notification type' }]);
    }
    const schedule = { date, notifyOffset, recurrence, timezone };
    const nextFireAt = await this.#recurrences.next(schedule, now);
    if (recurrence && !nextFireAt && rescheduled) throw new HeraldError('INVALID_RECURRENCE', 'the recurrence has no occurrence in the future');
    return {
      appId,
      date,
      title,
      message,
      url: input.url !== undefined ? input.url : (current?.url ?? null),
      notifyOffset,
      channels,
      recurrence,
      timezone,
      nextFireAt,
      template,
      topic,
      type,
    };
  }

  /**
   * The reminder's template, pinned and its data checked now (422 before anything is stored), so
   * each occurrence renders the same version. A reminder moved to another app is pinned again
   * there, by key.
   */
  async #template(client: Queryable, input: ReminderPatch, current: Reminder | undefined, v: { appId: string; channels: readonly string[]; title: string | null; message: string }): Promise<ReminderValues['template']> {
    let ref: TemplateRef | undefined;
    if (input.template) ref = input.template;
    else if (input.template === undefined && current?.template) {
      if (current.template.appId === v.appId) return current.template;
      ref = { key: current.template.key, data: current.template.data };
    }
    if (!ref) {
      if (v.message === '') throw validation('body.message: is required unless a template is given', [{ field: 'body.message', message: 'is required unless a template is given' }]);
      return null;
    }
    const pinned = await pinTemplates(client, {
      appId: v.appId,
      channels: v.channels,
      template: ref,
      title: v.title ?? 'Reminder',
      ...(v.message !== '' ? { body: v.message } : {}),
    }, ['push']);
    return pinned.template ?? null;
  }

  /** `email`: the caller's address from their credentials, stored on a user row created here. */
  async create(userId: string, input: ReminderInput, email?: string): Promise<Reminder> {
    const values = await this.#resolve(this.#pool, userId, input, undefined);
    return withQuietTransaction(this.#pool, this.#wake, async (client, wake) => {
      if (email !== undefined) await ensureUser(client, userId, email);
      await ensureRoomFor(client, userId, 'reminders', this.#maxPerUser);
      const reminder = await insertReminder(client, uuidv7(), userId, values, { type: 'reminder:created', data: eventData(values) });
      await this.#hooks().reminderSaved(client, reminder, { wake, created: true });
      return reminder;
    });
  }

  /**
   * Plan from the row as read, then write only if the row is still as read (else plan again): the
   * optimistic form of the lock the plan no longer runs under. `onlyApp`: the caller may only
   * change reminders that app sends (an end user's token is for one app; its text must not go out
   * with another app's credentials).
   */
  async update(userId: string, id: string, patch: ReminderPatch, options: { onlyApp?: string | undefined } = {}): Promise<Reminder> {
    for (let attempt = 1; ; attempt++) {
      const current = await findReminder(this.#pool, userId, id);
      if (!current) throw notFound('reminder', id);
      if (options.onlyApp !== undefined && current.appId !== options.onlyApp) {
        throw new HeraldError('PERMISSION_DENIED', `This reminder is sent by app "${current.appId}"; this token may only change reminders of app "${options.onlyApp}".`, [{ field: 'appId', message: `the reminder belongs to app "${current.appId}"` }]);
      }
      const values = await this.#resolve(this.#pool, userId, patch, current);
      const saved = await withQuietTransaction(this.#pool, this.#wake, async (client, wake) => {
        const locked = await findReminder(client, userId, id, true);
        if (!locked) throw notFound('reminder', id);
        if (locked.updatedAt.getTime() !== current.updatedAt.getTime()) return undefined;
        const reminder = await updateReminder(client, id, values, { type: 'reminder:updated', data: eventData(values) });
        await this.#hooks().reminderSaved(client, reminder, { wake });
        return reminder;
      });
      if (saved) return saved;
      if (attempt >= 3) throw new HeraldError('CONFLICT', 'The reminder is being changed by other requests; try again.');
    }
  }

  async get(userId: string, id: string): Promise<Reminder> {
    const reminder = await findReminder(this.#pool, userId, id);
    if (!reminder) throw notFound('reminder', id);
    return reminder;
  }

  list(userId: string, limit: number, offset: number): Promise<{ items: Reminder[]; total: number }> {
    return listReminders(this.#pool, userId, limit, offset);
  }

  async delete(userId: string, id: string): Promise<void> {
    await withQuietTransaction(this.#pool, this.#wake, async (client) => {
      if (!(await findReminder(client, userId, id, true))) throw notFound('reminder', id);
      await this.#hooks().reminderDeleted(client, id, userId);
      await deleteReminder(client, userId, id);
      await appendEvent(client, { userId, type: 'reminder:deleted', itemType: 'reminder', itemId: id });
    });
  }
}

function eventData(r: ReminderValues): Record<string, unknown> {
  return { date: r.date.toISOString(), nextFireAt: r.nextFireAt?.toISOString() ?? null, channels: r.channels, recurrence: r.recurrence };
}
