import rrulePkg from 'rrule';
import { DateTime, IANAZone } from 'luxon';
import { HeraldError } from '../errors/index.ts';

const { RRule } = rrulePkg;
type RRuleInstance = InstanceType<typeof RRule>;

/**
 * When reminders fire. A reminder fires at `date − notifyOffset minutes`; a recurring one at
 * every occurrence of its RFC 5545 RRULE (https://www.rfc-editor.org/rfc/rfc5545#section-3.3.10)
 * minus the offset, with `date` as DTSTART.
 *
 * The rule is evaluated on floating local wall-clock times in the reminder's IANA zone, and each
 * local time is then turned into an instant with luxon. rrule's own TZID support converts through
 * the host's zone and gets DST changes wrong (https://github.com/jkbrzt/rrule/issues/445), so a
 * "daily at 09:00 Europe/Berlin" rule would drift by an hour twice a year.
 */
export interface Schedulable {
  readonly date: Date;
  readonly notifyOffset: number;
  readonly recurrence: string | null;
  readonly timezone: string | null;
}

/** Rules more frequent than this would flood the delivery queue; refused as INVALID_RECURRENCE. */
const MIN_FREQ = RRule.MINUTELY;
/** Occurrences examined per call before giving up (a rule like BYMONTHDAY=31;BYMONTH=2 never matches). */
const MAX_STEPS = 1000;

export const DAILY = 'FREQ=DAILY';

export function isValidTimeZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/** Parse an RRULE (with or without the `RRULE:` prefix); throws INVALID_RECURRENCE. */
export function parseRecurrence(text: string): RRuleInstance {
  const body = text.trim().replace(/^RRULE:/i, '');
  if (body === '' || /[\r\n]/.test(body) || /(^|;)(DTSTART|TZID)=/i.test(body)) {
    throw new HeraldError('INVALID_RECURRENCE', 'recurrence must be one RRULE without DTSTART/TZID (the reminder date and timezone supply them)');
  }
  let options: ReturnType<typeof RRule.parseString>;
  try {
    options = RRule.parseString(body);
  } catch (err) {
    throw new HeraldError('INVALID_RECURRENCE', `recurrence: ${(err as Error).message}`);
  }
  if (options.freq === undefined || options.freq === null) {
    throw new HeraldError('INVALID_RECURRENCE', 'recurrence needs FREQ');
  }
  if (options.freq > MIN_FREQ) throw new HeraldError('INVALID_RECURRENCE', 'recurrence may repeat at most every minute');
  if (options.interval !== undefined && (options.interval < 1 || !Number.isInteger(options.interval))) {
    throw new HeraldError('INVALID_RECURRENCE', 'INTERVAL must be a positive whole number');
  }
  try {
    return new RRule({ ...options, dtstart: new Date(0), tzid: null });
  } catch (err) {
    throw new HeraldError('INVALID_RECURRENCE', `recurrence: ${(err as Error).message}`);
  }
}

/** The instant as wall-clock time in `zone`, expressed as a "floating" Date whose UTC fields are that local time. */
function toFloating(instant: Date, zone: string): Date {
  const local = DateTime.fromJSDate(instant, { zone });
  return new Date(Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second, local.millisecond));
}

/** A floating local time back to an instant in `zone` (a time in a DST gap moves forward, as luxon does). */
function fromFloating(floating: Date, zone: string): Date {
  return DateTime.fromObject(
    {
      year: floating.getUTCFullYear(),
      month: floating.getUTCMonth() + 1,
      day: floating.getUTCDate(),
      hour: floating.getUTCHours(),
      minute: floating.getUTCMinutes(),
      second: floating.getUTCSeconds(),
      millisecond: floating.getUTCMilliseconds(),
    },
    { zone },
  ).toJSDate();
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/**
 * The next fire time strictly after `after`, or null when nothing is left to fire. Pure: the
 * scheduler calls it after an occurrence fires to schedule the next one.
 */
export function nextOccurrence(reminder: Schedulable, after: Date): Date | null {
  const offsetMs = reminder.notifyOffset * MINUTE;
  if (!reminder.recurrence) {
    const fire = new Date(reminder.date.getTime() - offsetMs);
    return fire.getTime() > after.getTime() ? fire : null;
  }
  const zone = reminder.timezone && isValidTimeZone(reminder.timezone) ? reminder.timezone : 'UTC';
  const base = parseRecurrence(reminder.recurrence);
  const rule = new RRule({ ...base.origOptions, dtstart: toFloating(reminder.date, zone), tzid: null });
  // An occurrence o fires at o − offset; we need the first o with o − offset > after.
  const threshold = after.getTime() + offsetMs;
  // Start a day early in local time: around a fall-back change local time is not monotonic.
  let cursor: Date | null = new Date(toFloating(new Date(threshold), zone).getTime() - DAY);
  let inclusive = true;
  for (let step = 0; step < MAX_STEPS && cursor; step++) {
    const occurrence: Date | null = rule.after(cursor, inclusive);
    if (!occurrence) return null;
    const instant = fromFloating(occurrence, zone);
    if (instant.getTime() > threshold) return new Date(instant.getTime() - offsetMs);
    cursor = occurrence;
    inclusive = false;
  }
  return null;
}

/** The moment a one-off reminder (or the first occurrence) fires: `date − notifyOffset`. */
export function firstFireTime(reminder: Pick<Schedulable, 'date' | 'notifyOffset'>): Date {
  return new Date(reminder.date.getTime() - reminder.notifyOffset * MINUTE);
}
