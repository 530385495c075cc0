import rrulePkg, { type Options } from 'rrule';
import { HeraldError } from '../errors/index.ts';

const { RRule, Weekday } = rrulePkg;

/**
 * Strict reading of one RFC 5545 RRULE (https://www.rfc-editor.org/rfc/rfc5545#section-3.3.10).
 *
 * rrule's own parser takes any number for any BY* part and any combination of parts, and its
 * iterator then loops forever on some of them (FREQ=HOURLY;BYHOUR=24 never finds hour 24 and
 * never stops). So every part is checked here against an allow-list of names, the ranges and
 * the combinations the RFC allows, plus herald's own rules (at most one occurrence a minute, a
 * bounded COUNT), before rrule ever sees the rule; rrule is then given the checked values and
 * never parses text. Every refusal is INVALID_RECURRENCE with a message of herald's own naming
 * the part (never the library's internal text).
 */
export type RuleOptions = Partial<Options> & { freq: number };

/** COUNT rules cannot be fast-forwarded (they count from the first occurrence), so their length is bounded. */
export const MAX_COUNT = 10_000;
const MAX_INTERVAL = 10_000;
const MAX_TEXT = 1_000;
/** No part needs more values than there are days in a year (±366 for BYYEARDAY/BYSETPOS). */
const MAX_VALUES = 732;

const FREQS: Record<string, number> = {
  YEARLY: RRule.YEARLY,
  MONTHLY: RRule.MONTHLY,
  WEEKLY: RRule.WEEKLY,
  DAILY: RRule.DAILY,
  HOURLY: RRule.HOURLY,
  MINUTELY: RRule.MINUTELY,
};
const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];
const PARTS = new Set(['FREQ', 'UNTIL', 'COUNT', 'INTERVAL', 'BYSECOND', 'BYMINUTE', 'BYHOUR', 'BYDAY', 'BYMONTHDAY', 'BYYEARDAY', 'BYWEEKNO', 'BYMONTH', 'BYSETPOS', 'WKST']);

const refuse = (message: string): never => {
  throw new HeraldError('INVALID_RECURRENCE', `recurrence: ${message}`, [{ field: 'body.recurrence', message }]);
};

/** A comma list of integers, each in [min, max] and (with nonZero) not 0. */
function integers(part: string, value: string, min: number, max: number, nonZero = false): number[] {
  const items = value.split(',');
  if (items.length > MAX_VALUES) refuse(`${part} has too many values`);
  return items.map((item) => {
    if (!/^[+-]?\d{1,4}$/.test(item)) refuse(`${part} must be a comma-separated list of whole numbers`);
    const n = Number(item);
    if (n < min || n > max || (nonZero && n === 0)) refuse(`${part} values must be from ${min} to ${max}${nonZero ? ', not 0' : ''}`);
    return n;
  });
}

function whole(part: string, value: string, min: number, max: number): number {
  if (!/^\d{1,6}$/.test(value)) refuse(`${part} must be a whole number`);
  const n = Number(value);
  if (n < min || n > max) refuse(`${part} must be from ${min} to ${max}`);
  return n;
}

/** UNTIL as a date or a date-time (UTC `Z` or floating): both are read as wall-clock time in the reminder's zone. */
function until(value: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})Z?)?$/.exec(value);
  if (!m) refuse('UNTIL must be a date (YYYYMMDD) or a date-time (YYYYMMDDTHHMMSSZ)');
  const [y, mo, d, h = '0', mi = '0', s = '0'] = m!.slice(1).map((x) => x ?? '0') as string[];
  const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
  const real = date.getUTCFullYear() === Number(y) && date.getUTCMonth() === Number(mo) - 1 && date.getUTCDate() === Number(d) && date.getUTCHours() === Number(h) && date.getUTCMinutes() === Number(mi) && date.getUTCSeconds() === Number(s);
  if (!real || Number(y) < 1970) refuse('UNTIL is not a real date');
  return date;
}

function weekdays(value: string, freq: number, withWeekNo: boolean): InstanceType<typeof Weekday>[] {
  const items = value.split(',');
  if (items.length > MAX_VALUES) refuse('BYDAY has too many values');
  return items.map((item) => {
    const m = /^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$/.exec(item);
    if (!m) refuse('BYDAY values are weekdays (MO…SU), optionally with an ordinal (1MO, -1FR)');
    const day = WEEKDAYS.indexOf(m![2]!);
    if (m![1] === undefined) return new Weekday(day);
    const n = Number(m![1]);
    // RFC 5545: ordinals only in MONTHLY (±1..5 weeks of a month) and YEARLY (±1..53) rules, not with BYWEEKNO.
    if (freq === RRule.MONTHLY ? n === 0 || Math.abs(n) > 5 : freq !== RRule.YEARLY || withWeekNo || n === 0 || Math.abs(n) > 53) {
      refuse(freq === RRule.MONTHLY ? 'BYDAY ordinals in a monthly rule must be from -5 to 5, not 0' : 'BYDAY ordinals are allowed only in MONTHLY rules, and YEARLY rules without BYWEEKNO');
    }
    return new Weekday(day, n);
  });
}

/** Parse and check an RRULE (with or without the `RRULE:` prefix); throws INVALID_RECURRENCE. */
export function parseRule(text: string): RuleOptions {
  if (text.length > MAX_TEXT) refuse(`the rule is longer than ${MAX_TEXT} characters`);
  const body = text.trim().replace(/^RRULE:/i, '').toUpperCase();
  if (body === '') refuse('the rule is empty');
  const raw = new Map<string, string>();
  for (const piece of body.split(';')) {
    const eq = piece.indexOf('=');
    const name = eq < 0 ? piece : piece.slice(0, eq);
    const value = eq < 0 ? '' : piece.slice(eq + 1);
    if (name === 'DTSTART' || name === 'TZID') refuse('give one RRULE without DTSTART/TZID (the reminder date and timezone supply them)');
    if (!PARTS.has(name)) refuse(`unknown part "${name.slice(0, 20).replace(/[^A-Z0-9-]/g, '?')}"`);
    if (raw.has(name)) refuse(`${name} is given twice`);
    if (value === '') refuse(`${name} has no value`);
    raw.set(name, value);
  }
  const freqText = raw.get('FREQ');
  if (freqText === undefined) refuse('FREQ is required');
  if (freqText === 'SECONDLY') refuse('a reminder may repeat at most every minute');
  const freq = FREQS[freqText!];
  if (freq === undefined) refuse('FREQ must be MINUTELY, HOURLY, DAILY, WEEKLY, MONTHLY or YEARLY');
  const o: RuleOptions = { freq: freq! };
  const get = (name: string) => raw.get(name);
  let v: string | undefined;
  if ((v = get('INTERVAL')) !== undefined) o.interval = whole('INTERVAL', v, 1, MAX_INTERVAL);
  if ((v = get('COUNT')) !== undefined) o.count = whole('COUNT', v, 1, MAX_COUNT);
  if ((v = get('UNTIL')) !== undefined) o.until = until(v);
  if (o.count !== undefined && o.until !== undefined) refuse('COUNT and UNTIL cannot both be given');
  if ((v = get('WKST')) !== undefined) {
    if (!WEEKDAYS.includes(v)) refuse('WKST must be a weekday (MO…SU)');
    o.wkst = WEEKDAYS.indexOf(v);
  }
  if ((v = get('BYSECOND')) !== undefined) {
    o.bysecond = integers('BYSECOND', v, 0, 59);
    // Several seconds a minute would fire more than once a minute (BYSECOND=0,5,10,… every 5 s).
    if (new Set(o.bysecond).size > 1) refuse('a reminder may repeat at most every minute (BYSECOND takes one value)');
  }
  if ((v = get('BYMINUTE')) !== undefined) o.byminute = integers('BYMINUTE', v, 0, 59);
  if ((v = get('BYHOUR')) !== undefined) o.byhour = integers('BYHOUR', v, 0, 23);
  if ((v = get('BYMONTH')) !== undefined) o.bymonth = integers('BYMONTH', v, 1, 12);
  if ((v = get('BYMONTHDAY')) !== undefined) {
    if (freq === RRule.WEEKLY) refuse('BYMONTHDAY cannot be used in a WEEKLY rule');
    o.bymonthday = integers('BYMONTHDAY', v, -31, 31, true);
  }
  if ((v = get('BYYEARDAY')) !== undefined) {
    if (freq === RRule.DAILY || freq === RRule.WEEKLY || freq === RRule.MONTHLY) refuse('BYYEARDAY cannot be used in DAILY, WEEKLY or MONTHLY rules');
    o.byyearday = integers('BYYEARDAY', v, -366, 366, true);
  }
  if ((v = get('BYWEEKNO')) !== undefined) {
    if (freq !== RRule.YEARLY) refuse('BYWEEKNO can be used only in YEARLY rules');
    o.byweekno = integers('BYWEEKNO', v, -53, 53, true);
  }
  if ((v = get('BYDAY')) !== undefined) {
    let days = weekdays(v, freq!, o.byweekno !== undefined);
    // rrule intersects the plain and the numbered weekdays of one BYDAY (MO and 5SA: Mondays that
    // are fifth Saturdays, i.e. none), where RFC 5545 means their union. A plain weekday of a
    // monthly rule (or a yearly one within BYMONTH) is every numbered one, 1 to 5 (to 53 in a
    // year): written so, the union is what rrule computes.
    if (days.some((d) => d.n !== undefined) && days.some((d) => d.n === undefined)) {
      const weeks = freq === RRule.MONTHLY || o.bymonth !== undefined ? 5 : 53;
      days = days.flatMap((d) => (d.n !== undefined ? [d] : Array.from({ length: weeks }, (_, i) => new Weekday(d.weekday, i + 1))));
    }
    o.byweekday = days;
  }
  if ((v = get('BYSETPOS')) !== undefined) {
    const others = ['BYSECOND', 'BYMINUTE', 'BYHOUR', 'BYDAY', 'BYMONTHDAY', 'BYYEARDAY', 'BYWEEKNO', 'BYMONTH'].some((p) => raw.has(p));
    if (!others) refuse('BYSETPOS needs another BY part to select from');
    // A minutely rule's set holds one time (BYSECOND takes one value): a position in it means nothing.
    if (freq === RRule.MINUTELY) refuse('BYSETPOS cannot be used in a MINUTELY rule');
    o.bysetpos = integers('BYSETPOS', v, -366, 366, true);
  }
  // rrule steps a minutely rule with BYHOUR/BYMINUTE hour by hour; with an INTERVAL that does not
  // divide an hour the minutes it visits drift from hour to hour (and may never match).
  if (freq === RRule.MINUTELY && (o.byhour !== undefined || o.byminute !== undefined) && 60 % (o.interval ?? 1) !== 0) {
    refuse('a MINUTELY rule with BYHOUR or BYMINUTE needs an INTERVAL that divides 60');
  }
  return o;
}
