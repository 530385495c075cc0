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

/** COUNT rules cannot be fast-forwarded (see nextOccurrence), so their length is bounded. */
const MAX_COUNT = 10_000;

export const DAILY = 'FREQ=DAILY';

// luxon checks a zone by building an Intl.DateTimeFormat each time (~0.1 ms); zone names are few.
const zoneValidity = new Map<string, boolean>();

export function isValidTimeZone(zone: string): boolean {
  let valid = zoneValidity.get(zone);
  if (valid === undefined) {
    valid = IANAZone.isValidZone(zone);
    if (zoneValidity.size > 10_000) zoneValidity.clear();
    zoneValidity.set(zone, valid);
  }
  return valid;
}

/** Parse an RRULE (with or without the `RRULE:` prefix); throws INVALID_RECURRENCE. */
export function parseRecurrence(text: string): RRuleInstance {
  const body = text.trim().replace(/^RRULE:/i, '');
  if (body === '' || /[\r\n]/.test(body) || /(^|;)(DTSTART|TZID|BYEASTER)=/i.test(body)) {
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
  // rrule steps a minutely rule with BYHOUR/BYMINUTE hour by hour; with an INTERVAL that does not
  // divide an hour that stepping can cycle without ever matching.
  if (options.freq === RRule.MINUTELY && (options.byhour !== undefined || options.byminute !== undefined) && 60 % (options.interval ?? 1) !== 0) {
    throw new HeraldError('INVALID_RECURRENCE', 'a minutely rule with BYHOUR or BYMINUTE needs an INTERVAL that divides 60');
  }
  if (options.count !== undefined && options.count !== null && (options.count < 1 || options.count > MAX_COUNT)) {
    throw new HeraldError('INVALID_RECURRENCE', `COUNT must be from 1 to ${MAX_COUNT}`);
  }
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

// Period lengths in floating (DST-free) time of the rules whose start may be moved forward.
const PERIOD_MS: Partial<Record<number, number>> = {
  [RRule.WEEKLY]: 7 * DAY,
  [RRule.DAILY]: DAY,
  [RRule.HOURLY]: 3_600_000,
  [RRule.MINUTELY]: MINUTE,
};

/**
 * The next fire time strictly after `after`, or null when nothing is left to fire. Pure: the
 * scheduler calls it after an occurrence fires to schedule the next one.
 */
export function nextOccurrence(reminder: Schedulable, after: Date): Date | null {
  return next(reminder, after, true);
}

/** The same without fast-forwarding: walks every occurrence from `date`. Tests compare the two. */
export function nextOccurrenceByWalking(reminder: Schedulable, after: Date): Date | null {
  return next(reminder, after, false);
}

function next(reminder: Schedulable, after: Date, fastForward: boolean): Date | null {
  const offsetMs = reminder.notifyOffset * MINUTE;
  if (!reminder.recurrence) {
    const fire = new Date(reminder.date.getTime() - offsetMs);
    return fire.getTime() > after.getTime() ? fire : null;
  }
  const zone = reminder.timezone && isValidTimeZone(reminder.timezone) ? reminder.timezone : 'UTC';
  const options = parseRecurrence(reminder.recurrence).origOptions;
  // An occurrence o fires at o − offset; we need the first o with o − offset > after.
  const threshold = after.getTime() + offsetMs;
  // Start a day early in local time: around a fall-back change local time is not monotonic.
  let cursor: Date | null = new Date(toFloating(new Date(threshold), zone).getTime() - DAY);
  let dtstart = toFloating(reminder.date, zone);
  // rrule finds an occurrence by iterating from DTSTART, so a daily rule a few years old costs
  // thousands of steps per call (a minutely one, millions). Moving DTSTART forward by whole
  // periods keeps the same occurrences from the new start on: periods are exact in floating
  // time. Not with COUNT (it counts from the first occurrence), nor for monthly/yearly rules,
  // whose periods vary in length (and which iterate cheaply anyway).
  const unit = PERIOD_MS[options.freq!];
  // A minutely rule with BYHOUR jumps from the last allowed hour to the next keeping its minute,
  // which moves its phase each day: only walking from `date` reproduces that.
  const phaseKept = !(options.freq === RRule.MINUTELY && options.byhour !== undefined && options.byhour !== null);
  if (fastForward && unit && !options.count && phaseKept) {
    const period = unit * (options.interval ?? 1);
    const gap = cursor.getTime() - dtstart.getTime();
    if (gap > period) dtstart = new Date(dtstart.getTime() + Math.floor(gap / period) * period);
  }
  const rule = new RRule({ ...options, dtstart, tzid: null }, true);
  if (!reachable(rule)) return null;
  limitPeriods(rule);
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

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * rrule's hourly and minutely steps loop until the hour/minute is one BYHOUR/BYMINUTE allows,
 * with no way out when none ever is (FREQ=HOURLY;INTERVAL=2;BYHOUR=1 from an even hour spins
 * forever). The times of day a rule visits are DTSTART's plus multiples of INTERVAL, modulo a
 * day, i.e. one residue class modulo gcd(INTERVAL, day): some allowed time must be in it.
 */
function reachable(rule: RRuleInstance): boolean {
  const o = rule.options;
  const start = o.dtstart;
  if (o.freq === RRule.HOURLY && o.byhour && o.byhour.length > 0) {
    const g = gcd(o.interval, 24);
    return o.byhour.some((h) => (((h - start.getUTCHours()) % g) + g) % g === 0);
  }
  if (o.freq === RRule.MINUTELY && o.byminute && o.byminute.length > 0) {
    // INTERVAL divides 60 here (parseRecurrence): the minute of the hour stays in one class modulo INTERVAL.
    return o.byminute.some((m) => (((m - start.getUTCMinutes()) % o.interval) + o.interval) % o.interval === 0);
  }
  return true;
}

/**
 * Periods rrule may step through in one evaluation before the rule counts as finished. The
 * Gregorian calendar repeats every 400 years, so a yearly or monthly rule with no match in 400
 * years never matches; for the shorter periods the bound is ~50-200 years.
 */
const MAX_PERIODS: Record<number, number> = {
  [RRule.YEARLY]: 401,
  [RRule.MONTHLY]: 4_801,
  [RRule.WEEKLY]: 10_000,
  [RRule.DAILY]: 20_000,
  [RRule.HOURLY]: 20_000,
  [RRule.MINUTELY]: 20_000,
};

/**
 * A rule whose days never match (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) makes rrule step through
 * every period up to the year 9999: tens of seconds of blocked event loop. rrule's iterator
 * re-reads `options.interval` once per period and stops when it is 0, so a counting getter
 * bounds the work (to well under a second of CPU).
 */
function limitPeriods(rule: RRuleInstance): void {
  const options = rule.options as { interval: number; freq: number };
  const interval = options.interval;
  const limit = 2 * (MAX_PERIODS[options.freq] ?? 20_000);
  let reads = 0;
  Object.defineProperty(options, 'interval', {
    configurable: true,
    enumerable: true,
    // Read twice per period (the stop check and the step).
    get: () => (++reads > limit ? 0 : interval),
  });
}

/** The moment a one-off reminder (or the first occurrence) fires: `date − notifyOffset`. */
export function firstFireTime(reminder: Pick<Schedulable, 'date' | 'notifyOffset'>): Date {
  return new Date(reminder.date.getTime() - reminder.notifyOffset * MINUTE);
}
