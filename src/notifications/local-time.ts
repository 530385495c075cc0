import { DateTime } from 'luxon';
import { HeraldError } from '../errors/index.ts';

/**
 * `sendAt: {localTime}` (docs/timing.md): a date and wall-clock time without an offset, due at
 * that time in each recipient's own zone. The fan-out statement turns it into each delivery's
 * due time with PostgreSQL's time zone database (src/notifications/fan-out.ts); here it is only
 * checked and bounded.
 */

/** The furthest ahead of UTC any zone is (Pacific/Kiritimati, UTC+14): where a local time comes first. */
const EARLIEST_OFFSET_MS = 14 * 3_600_000;

/**
 * A broadcast with a local time starts fanning out this long before the local time first comes
 * round (at UTC+14), so a large audience is fanned out before its first wave is due.
 */
export const LOCAL_TIME_FAN_OUT_HEAD_START_MS = 60 * 60_000;

export interface LocalTime {
  /** "YYYY-MM-DDTHH:MM:SS", as the notification stores it. */
  readonly text: string;
  /** The first instant the wall-clock time occurs anywhere (UTC+14). */
  readonly earliest: Date;
}

/** Check a local time (the schema checked its shape; this checks it is a real calendar date). */
export function parseLocalTime(text: string): LocalTime {
  const t = DateTime.fromISO(text, { zone: 'UTC' });
  if (!t.isValid || t.year < 1970 || t.year > 9999) {
    throw new HeraldError('VALIDATION_FAILED', `sendAt.localTime: "${text}" is not a date and time (YYYY-MM-DDTHH:MM)`, [
      { field: 'body.sendAt.localTime', message: 'must be a real date and time, YYYY-MM-DDTHH:MM[:SS]' },
    ]);
  }
  return { text: t.toFormat("yyyy-MM-dd'T'HH:mm:ss"), earliest: new Date(t.toMillis() - EARLIEST_OFFSET_MS) };
}
