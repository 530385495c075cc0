import rrulePkg from 'rrule';
import { DateTime, IANAZone } from 'luxon';
import { isValidTimeZone } from '../core/time-zone.ts';
import { parseRule, type RuleOptions } from './rrule-parse.ts';

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
 *
 * Cost: the rule's start is moved forward by whole periods to just before the time asked about
 * (arithmetic, for every FREQ), so finding the next occurrence costs the same for a reminder
 * started yesterday or ten years ago. This module is pure and synchronous; callers reach it
 * through RecurrenceEvaluator (recurrence-pool.ts), which runs it on a worker thread under a
 * hard time budget.
 */
export interface Schedulable {
  readonly date: Date;
  readonly notifyOffset: number;
  readonly recurrence: string | null;
  readonly timezone: string | null;
}

export const DAILY = 'FREQ=DAILY';

export { isValidTimeZone };

/** Check an RRULE (with or without the `RRULE:` prefix); throws INVALID_RECURRENCE. See rrule-parse.ts. */
export function parseRecurrence(text: string): RuleOptions {
  return parseRule(text);
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
const HOUR = 3_600_000;
const DAY = 86_400_000;

/**
 * The next fire time strictly after `after`, or null when nothing is left to fire. Pure and
 * synchronous: run it through RecurrenceEvaluator, never on the event loop of a server.
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
  const start = toFloating(reminder.date, zone);
  const options = explicit(normalise(parseRule(reminder.recurrence), start), start);
  // An occurrence o fires at o − offset; we need the first o with o − offset > after.
  const threshold = after.getTime() + offsetMs;
  // Local time is not monotonic in instants (a fall-back change repeats an hour; a zone may even
  // skip or repeat a day), so every occurrence from a little before the threshold's local time
  // is converted and compared as an instant. "A little" is the zone's offset change around the
  // threshold plus an hour: an occurrence earlier than that cannot come after the threshold.
  const tz = IANAZone.create(zone);
  const offsets = [threshold - DAY, threshold, threshold + DAY].map((t) => tz.offset(t) * MINUTE);
  const slack = Math.max(...offsets) - Math.min(...offsets) + HOUR;
  const searchFrom = toFloating(new Date(threshold), zone).getTime() - slack;
  // UNTIL is a floating time too: nothing after the threshold when it lies before the search.
  if (options.until && options.until.getTime() < searchFrom) return null;
  if (!setPositionsReachable(options)) return null;
  let target = searchFrom;
  if (options.freq >= RRule.DAILY) {
    // Days the rule's day parts allow, found by date arithmetic: none in a 400-year calendar
    // cycle means none ever, and rrule need not step through them one period at a time.
    const day = firstAllowedDay(options, Math.max(searchFrom, start.getTime()));
    if (day === null) return null;
    target = Math.max(target, day);
  }
  const dtstart = fastForward && !options.count ? movedStart(options, start, target) : start;
  const rule = new RRule({ ...options, dtstart, tzid: null }, true);
  if (!reachable(rule)) return null;
  limitPeriods(rule, fastForward ? 1 : 10);
  let found: Date | null = null;
  try {
    // One pass over the occurrences (rrule's after() would restart from DTSTART on every call).
    rule.all((occurrence) => {
      if (occurrence.getTime() < searchFrom) return true;
      const instant = fromFloating(occurrence, zone);
      if (instant.getTime() <= threshold) return true;
      found = new Date(instant.getTime() - offsetMs);
      return false;
    });
  } catch (err) {
    if (err !== OUT_OF_PERIODS) throw err;
  }
  return found;
}

/**
 * A MINUTELY rule with BYHOUR or BYMINUTE (INTERVAL divides 60, see rrule-parse.ts) is the daily
 * rule of its allowed hours × the minutes of its phase. rrule's minutely stepping gets such rules
 * wrong when a day is filtered out (it then jumps hours by the overflow, not one at a time,
 * skipping allowed hours for days), so herald evaluates them in their daily form, which is the
 * RFC 5545 set exactly.
 */
function normalise(o: RuleOptions, start: Date): RuleOptions {
  if (o.freq !== RRule.MINUTELY || (o.byhour === undefined && o.byminute === undefined)) return o;
  const interval = o.interval ?? 1;
  const allowed = o.byminute === undefined ? undefined : new Set(o.byminute as number[]);
  const minutes: number[] = [];
  for (let m = start.getUTCMinutes() % interval; m < 60; m += interval) if (!allowed || allowed.has(m)) minutes.push(m);
  const hours = o.byhour === undefined ? Array.from({ length: 24 }, (_, h) => h) : (o.byhour as number[]);
  return { ...o, freq: RRule.DAILY, interval: 1, byhour: hours, byminute: minutes };
}

/**
 * rrule fills the parts a rule leaves out from DTSTART (the day of month of a monthly rule, the
 * time of day of a daily one). Written out explicitly, they survive moving DTSTART forward.
 */
function explicit(o: RuleOptions, start: Date): RuleOptions {
  const out: RuleOptions = { ...o };
  const dayGiven = o.byweekno !== undefined || o.byyearday !== undefined || o.bymonthday !== undefined || o.byweekday !== undefined;
  if (!dayGiven) {
    if (o.freq === RRule.YEARLY) {
      out.bymonth ??= start.getUTCMonth() + 1;
      out.bymonthday = start.getUTCDate();
    } else if (o.freq === RRule.MONTHLY) {
      out.bymonthday = start.getUTCDate();
    } else if (o.freq === RRule.WEEKLY) {
      out.byweekday = (start.getUTCDay() + 6) % 7;
    }
  }
  if (o.freq < RRule.HOURLY) out.byhour ??= start.getUTCHours();
  if (o.freq < RRule.MINUTELY) out.byminute ??= start.getUTCMinutes();
  out.bysecond ??= start.getUTCSeconds();
  return out;
}

/**
 * DTSTART moved forward by whole periods (INTERVAL × FREQ) to the last period boundary before
 * `target`: the occurrences from there on are the same, and rrule then iterates about one
 * period instead of every period since the reminder began. Minutes, hours, days and weeks are
 * exact lengths in floating (DST-free) time; months and years move in calendar arithmetic to
 * the first of the month at midnight (explicit() wrote the day and time out).
 */
function movedStart(o: RuleOptions, start: Date, target: number): Date {
  const interval = o.interval ?? 1;
  const unit = ({ [RRule.MINUTELY]: MINUTE, [RRule.HOURLY]: HOUR, [RRule.DAILY]: DAY, [RRule.WEEKLY]: 7 * DAY } as Record<number, number>)[o.freq];
  if (unit) {
    const period = unit * interval;
    const gap = target - start.getTime();
    return gap > period ? new Date(start.getTime() + Math.floor(gap / period) * period) : start;
  }
  const t = new Date(target);
  const months = o.freq === RRule.MONTHLY ? 1 : 12;
  const elapsed = (t.getUTCFullYear() - start.getUTCFullYear()) * 12 + (t.getUTCMonth() - start.getUTCMonth());
  const step = Math.floor(elapsed / (months * interval)) * months * interval;
  if (step < months * interval) return start;
  const month = o.freq === RRule.MONTHLY ? start.getUTCMonth() + step : 0;
  return new Date(Date.UTC(start.getUTCFullYear() + (o.freq === RRule.YEARLY ? step / 12 : 0), month, 1, 0, 0, 0, start.getUTCMilliseconds()));
}

const CYCLE_DAYS = 146_097; // the Gregorian calendar repeats every 400 years
const asList = (v: unknown): number[] | undefined => (v === undefined || v === null ? undefined : Array.isArray(v) ? (v as number[]) : [v as number]);

/**
 * Start (floating ms) of the first day from `from` on that the day parts of a DAILY, HOURLY or
 * MINUTELY rule allow, or null when no day in a whole calendar cycle does. For these FREQs the
 * day parts only filter (RFC 5545's table of BYxxx behaviour): BYMONTH, BYMONTHDAY, BYYEARDAY
 * and BYDAY without ordinals (rrule-parse.ts refuses ordinals and BYWEEKNO here).
 */
function firstAllowedDay(o: RuleOptions, from: number): number | null {
  const months = asList(o.bymonth);
  const monthDays = asList(o.bymonthday);
  const yearDays = asList(o.byyearday);
  const weekdays = asList(o.byweekday)?.map((w) => (typeof w === 'number' ? w : (w as unknown as { weekday: number }).weekday));
  if (!months && !monthDays && !yearDays && !weekdays) return from - (from % DAY);
  let day = from - (((from % DAY) + DAY) % DAY);
  for (let i = 0; i <= CYCLE_DAYS; i++, day += DAY) {
    const d = new Date(day);
    const year = d.getUTCFullYear();
    if (months && !months.includes(d.getUTCMonth() + 1)) continue;
    if (weekdays && !weekdays.includes((d.getUTCDay() + 6) % 7)) continue;
    if (monthDays) {
      const length = new Date(Date.UTC(year, d.getUTCMonth() + 1, 0)).getUTCDate();
      if (!monthDays.includes(d.getUTCDate()) && !monthDays.includes(d.getUTCDate() - length - 1)) continue;
    }
    if (yearDays) {
      const yday = Math.round((day - Date.UTC(year, 0, 1)) / DAY) + 1;
      const length = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 366 : 365;
      if (!yearDays.includes(yday) && !yearDays.includes(yday - length - 1)) continue;
    }
    return day;
  }
  return null;
}

/**
 * A DAILY or HOURLY rule's set in each period has a fixed size (its hours × minutes × seconds of
 * the day, or minutes × seconds of the hour); BYSETPOS positions all beyond it select nothing,
 * ever, and rrule would step through every period to find that out.
 */
function setPositionsReachable(o: RuleOptions): boolean {
  const positions = asList(o.bysetpos);
  if (!positions || (o.freq !== RRule.DAILY && o.freq !== RRule.HOURLY)) return true;
  const count = (v: unknown) => new Set(asList(v) ?? []).size || 1;
  const size = (o.freq === RRule.DAILY ? count(o.byhour) : 1) * count(o.byminute) * count(o.bysecond);
  return positions.some((p) => Math.abs(p) <= size);
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * rrule's hourly and minutely steps loop until the hour/minute is one BYHOUR/BYMINUTE allows,
 * with no way out when none ever is (FREQ=HOURLY;INTERVAL=2;BYHOUR=1 from an even hour spins
 * forever). The hours a rule visits are DTSTART's plus multiples of INTERVAL, modulo a day,
 * i.e. one residue class modulo gcd(INTERVAL, 24): some allowed hour must be in it. (Minutely
 * rules with BYHOUR/BYMINUTE were made daily by normalise().)
 */
function reachable(rule: RRuleInstance): boolean {
  const o = rule.options;
  if (o.freq === RRule.HOURLY && o.byhour && o.byhour.length > 0) {
    const g = gcd(o.interval, 24);
    return o.byhour.some((h) => (((h - o.dtstart.getUTCHours()) % g) + g) % g === 0);
  }
  if ((o.freq === RRule.DAILY || o.freq === RRule.HOURLY) && o.byminute && o.byminute.length === 0) return false;
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

/** Thrown out of rrule's iterator when a rule has used up its periods (see limitPeriods). */
const OUT_OF_PERIODS = new Error('the rule has no occurrence within its period limit');

/**
 * A rule whose days never match (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) makes rrule step through
 * every period up to the year 9999: tens of seconds of CPU. rrule's iterator reads
 * `options.interval` twice per period, so a counting getter sees the periods go by and, past
 * the limit, throws out of the iteration. (Answering 0, rrule's own "stop" value, is not safe:
 * when the 0 is read by the hourly or minutely step rather than by the stop check, the step
 * adds 0 hours for ever.) This is the cheap, cooperative bound that ends rules which are merely
 * rare; the hard one, which nothing escapes, is the worker thread's time budget
 * (recurrence-pool.ts).
 */
function limitPeriods(rule: RRuleInstance, factor: number): void {
  const options = rule.options as { interval: number; freq: number };
  const interval = options.interval;
  const limit = 2 * factor * (MAX_PERIODS[options.freq] ?? 20_000);
  let reads = 0;
  Object.defineProperty(options, 'interval', {
    configurable: true,
    enumerable: true,
    get: () => {
      if (++reads > limit) throw OUT_OF_PERIODS;
      return interval;
    },
  });
}

/** The moment a one-off reminder (or the first occurrence) fires: `date − notifyOffset`. */
export function firstFireTime(reminder: Pick<Schedulable, 'date' | 'notifyOffset'>): Date {
  return new Date(reminder.date.getTime() - reminder.notifyOffset * MINUTE);
}
