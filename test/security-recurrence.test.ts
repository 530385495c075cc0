import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { SignJWT } from 'jose';
import { DateTime } from 'luxon';
import { createHarness, TEST_JWT_SECRET, type TestHarness } from './helpers/app.ts';
import { createTestDatabase } from './helpers/db.ts';
import { ensureBuilt, freePort, spawnHerald, tempDir, waitFor200, ROOT } from './helpers/herald-process.ts';
import { nextOccurrence } from '../src/reminders/schedule.ts';
import { RecurrenceEvaluator, RecurrenceError } from '../src/reminders/recurrence-pool.ts';
import { ReminderScheduler } from '../src/scheduler/index.ts';
import { NO_HOOKS } from '../src/core/hooks.ts';

/**
 * Threat: a recurrence rule as a weapon. One request with a rule that rrule cannot finish froze
 * the whole process; others were accepted but quietly stopped firing or fired every few
 * seconds. Defences: strict validation of every part, evaluation on worker threads under a
 * budget that terminates the thread, and fast-forwarded evaluation whose cost does not grow
 * with the reminder's age.
 */
let h: TestHarness;
before(async () => {
  h = await createHarness({}, { hooks: NO_HOOKS });
});
after(async () => {
  await h.close();
});

const token = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));
const inHours = (n: number) => new Date(Date.now() + n * 3_600_000).toISOString();

test('a rule that loops rrule for ever (BYHOUR=24, BYMINUTE=60, BYHOUR=25) is refused with 422 by a real herald, which keeps answering and stops on SIGTERM', async () => {
  await ensureBuilt();
  const db = await createTestDatabase(2);
  const port = await freePort();
  const dataDir = await tempDir('herald-sec-rrule-');
  const herald = spawnHerald(['api'], {
    HERALD_DATABASE_URL: db.url,
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_USER_JWT_SECRET: TEST_JWT_SECRET,
    HERALD_PORT: String(port),
    HERALD_HOST: '127.0.0.1',
    HERALD_DATA_DIR: dataDir,
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor200(`${base}/readyz`, herald);
    const jwt = await token('mallory');
    for (const recurrence of ['FREQ=HOURLY;BYHOUR=24', 'FREQ=DAILY;BYMINUTE=60', 'FREQ=HOURLY;BYHOUR=25', 'FREQ=MINUTELY;BYHOUR=24', 'FREQ=HOURLY;INTERVAL=2;BYHOUR=99']) {
      // A frozen process never answers: the client gives up, and the test fails on that.
      const res = await fetch(`${base}/v1/me/reminders`, {
        method: 'POST',
        headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
        body: JSON.stringify({ date: inHours(2), message: 'm', recurrence }),
        signal: AbortSignal.timeout(15_000),
      });
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(res.status, 422, `${recurrence}: ${JSON.stringify(body)}`);
      assert.equal(body.error.code, 'INVALID_RECURRENCE');
    }
    const health = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(health.status, 200);
    herald.child.kill('SIGTERM');
    const code = await Promise.race([herald.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
    assert.notEqual(code, 'hung', 'herald exits on SIGTERM');
  } finally {
    herald.child.kill('SIGKILL');
    await herald.exited;
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('an evaluation that never returns is ended by the time budget: its thread is terminated and the pool keeps answering', async () => {
  const evaluator = new RecurrenceEvaluator({ budgetMs: 300, threads: 1, workerFile: path.join(ROOT, 'test', 'fixtures', 'unbounded-rrule-worker.ts') });
  try {
    const reminder = { date: new Date('2026-01-01T00:00:00Z'), notifyOffset: 0, timezone: 'UTC' };
    await assert.rejects(evaluator.next({ ...reminder, recurrence: 'FREQ=HOURLY;BYHOUR=24' }, new Date('2026-02-01T00:00:00Z')), (err: unknown) => {
      assert.ok(err instanceof RecurrenceError);
      assert.equal(err.reason, 'budget');
      assert.equal(err.code, 'INVALID_RECURRENCE');
      return true;
    });
    // The one thread was terminated and replaced: the next evaluation is answered.
    assert.equal((await evaluator.next({ ...reminder, recurrence: 'FREQ=DAILY' }, new Date('2026-02-01T00:00:00Z')))?.toISOString(), '2026-02-01T00:01:00.000Z');
  } finally {
    await evaluator.close();
  }
});

/**
 * Property: thousands of generated rules, valid and not, each answered by the validator and the
 * evaluator. Run in a worker thread so that a rule that still loops fails this test by its
 * timeout instead of hanging the suite; the worker evaluates synchronously, without the
 * budget, so what is checked is that validation alone keeps every accepted rule finite.
 */
test('property: every generated rule is refused with INVALID_RECURRENCE or evaluated to an answer, none runs away', async () => {
  const worker = new Worker(path.join(ROOT, 'test', 'fixtures', 'recurrence-property.ts'), { workerData: { runs: 2000, seed: 20260315 } });
  const result = await new Promise<{ runs: number; accepted: number; refused: number; slowest: { rule: string; ms: number }; failures: string[] } | 'timeout'>((resolve, reject) => {
    const timer = setTimeout(() => resolve('timeout'), 240_000);
    worker.once('message', (m) => {
      clearTimeout(timer);
      resolve(m);
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  await worker.terminate();
  assert.notEqual(result, 'timeout', 'a generated rule kept the evaluator busy for minutes');
  if (result === 'timeout') return;
  assert.deepEqual(result.failures, []);
  assert.equal(result.accepted + result.refused, result.runs);
  assert.ok(result.accepted > result.runs / 5, `enough generated rules are valid to exercise the evaluator (${result.accepted})`);
  // The budget every valid rule must stay far below (HERALD_RECURRENCE_BUDGET_MS's default).
  assert.ok(result.slowest.ms < 1000, `slowest accepted rule: ${result.slowest.rule} took ${result.slowest.ms} ms`);
});

test('BYSECOND cannot make a reminder fire more than once a minute, and out-of-range BY values are refused with 422 and not stored', async () => {
  const refused = [
    'FREQ=MINUTELY;BYSECOND=0,5,10,15,20,25,30,35,40,45,50,55',
    'FREQ=HOURLY;BYSECOND=0,30',
    'FREQ=DAILY;BYSECOND=60',
    'FREQ=SECONDLY',
    'FREQ=DAILY;BYMONTHDAY=40',
    'FREQ=DAILY;BYMONTHDAY=0',
    'FREQ=YEARLY;BYMONTH=13',
    'FREQ=YEARLY;BYWEEKNO=54',
    'FREQ=YEARLY;BYYEARDAY=367',
    'FREQ=DAILY;BYHOUR=-1',
    'FREQ=MONTHLY;BYDAY=6MO',
    'FREQ=WEEKLY;BYDAY=1MO',
    'FREQ=MONTHLY;BYSETPOS=400;BYDAY=MO',
    'FREQ=WEEKLY;BYMONTHDAY=1',
    'FREQ=DAILY;BYWEEKNO=1',
    'FREQ=DAILY;INTERVAL=0',
    'FREQ=DAILY;COUNT=2;UNTIL=20300101T000000Z',
    'FREQ=DAILY;FREQ=HOURLY',
    'FREQ=DAILY;BYDAY=XX',
  ];
  const jwt = await token('bysecond');
  for (const recurrence of refused) {
    const res = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: { authorization: `Bearer ${jwt}` }, payload: { date: inHours(2), message: 'm', recurrence } });
    assert.equal(res.statusCode, 422, `${recurrence}: ${res.body}`);
    assert.equal(res.json().error.code, 'INVALID_RECURRENCE', recurrence);
  }
  assert.equal((await h.db.pool.query(`SELECT 1 FROM reminders WHERE user_id = 'bysecond'`)).rowCount, 0);
  // One second of the minute is fine: still at most once a minute.
  const ok = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: { authorization: `Bearer ${jwt}` }, payload: { date: inHours(2), message: 'm', recurrence: 'FREQ=MINUTELY;INTERVAL=5;BYSECOND=30' } });
  assert.equal(ok.statusCode, 201, ok.body);
});

test('a refused rule is explained in herald’s words, never with the rrule library’s internal error text', async () => {
  for (const recurrence of ['FREQ=DAILY;BYDAY=XX', 'FREQ=DAILY;UNTIL=garbage', 'FREQ=DAILY;FOO=1', 'FREQ=DAILY;BYMONTHDAY=a']) {
    const res = await h.request({ method: 'POST', url: '/v1/users/words/reminders', payload: { date: inHours(2), message: 'm', recurrence } });
    assert.equal(res.statusCode, 422, `${recurrence}: ${res.body}`);
    const message = res.json().error.message as string;
    assert.match(message, /^recurrence: /);
    assert.doesNotMatch(message, /Cannot read|undefined|property|Invalid UNTIL value|Unknown RRULE/i, `${recurrence}: ${message}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Item: the next occurrence is found whatever the reminder's age.

/** Wall-clock fields of a floating time (a Date whose UTC fields are the local time). */
interface Local { year: number; month: number; day: number; hour: number; minute: number; weekday: number; daysInMonth: number; ms: number }
function local(ms: number): Local {
  const d = new Date(ms);
  const daysInMonth = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), weekday: d.getUTCDay() || 7, daysInMonth, ms };
}

/**
 * A brute-force reference, written without rrule: every local minute from a day before the
 * threshold is tested against a predicate, and the first match whose instant is after the
 * threshold is the answer.
 */
function reference(startLocal: DateTime, zone: string, matches: (t: Local) => boolean, after: Date, maxDays: number): string | null {
  const start = startLocal.setZone('UTC', { keepLocalTime: true }).toMillis();
  const from = DateTime.fromJSDate(after, { zone }).setZone('UTC', { keepLocalTime: true }).minus({ days: 1 }).startOf('minute').toMillis();
  for (let t = Math.max(start, from), i = 0; i < maxDays * 1440; i++, t += 60_000) {
    const l = local(t);
    if (!matches(l)) continue;
    const instant = DateTime.fromObject({ year: l.year, month: l.month, day: l.day, hour: l.hour, minute: l.minute }, { zone });
    if (instant.toMillis() > after.getTime()) return instant.toUTC().toISO();
  }
  return null;
}

const START = '2025-06-10T07:40:00';
const DAY_MS = 86_400_000;
const minutesSince = (t: Local, s: Local) => Math.round((t.ms - s.ms) / 60_000);
const daysSince = (t: Local, s: Local) => Math.round((Date.UTC(t.year, t.month - 1, t.day) - Date.UTC(s.year, s.month - 1, s.day)) / DAY_MS);
const weeksSince = (t: Local, s: Local) => Math.floor((daysSince(t, s) + (s.weekday - 1)) / 7);
const sameTime = (t: Local, s: Local) => t.hour === s.hour && t.minute === s.minute;
const monthsSince = (t: Local, s: Local) => (t.year - s.year) * 12 + (t.month - s.month);
const CASES: Array<{ rule: string; days: number; matches: (t: Local, s: Local) => boolean }> = [
  { rule: 'FREQ=MINUTELY;INTERVAL=5', days: 2, matches: (t, s) => minutesSince(t, s) % 5 === 0 },
  { rule: 'FREQ=MINUTELY', days: 2, matches: () => true },
  { rule: 'FREQ=MINUTELY;INTERVAL=15;BYHOUR=9,17;BYDAY=MO,WE', days: 9, matches: (t, s) => minutesSince(t, s) % 15 === 0 && [9, 17].includes(t.hour) && [1, 3].includes(t.weekday) },
  { rule: 'FREQ=HOURLY', days: 2, matches: (t, s) => t.minute === s.minute },
  { rule: 'FREQ=HOURLY;INTERVAL=5', days: 2, matches: (t, s) => minutesSince(t, s) % 300 === 0 },
  { rule: 'FREQ=HOURLY;BYMINUTE=0,30;BYDAY=SA', days: 9, matches: (t) => [0, 30].includes(t.minute) && t.weekday === 6 },
  { rule: 'FREQ=DAILY', days: 3, matches: sameTime },
  { rule: 'FREQ=DAILY;INTERVAL=3;BYHOUR=7,19;BYMINUTE=15', days: 5, matches: (t, s) => daysSince(t, s) % 3 === 0 && [7, 19].includes(t.hour) && t.minute === 15 },
  { rule: 'FREQ=WEEKLY', days: 9, matches: (t, s) => t.weekday === s.weekday && sameTime(t, s) },
  { rule: 'FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,FR', days: 16, matches: (t, s) => weeksSince(t, s) % 2 === 0 && [2, 5].includes(t.weekday) && sameTime(t, s) },
  { rule: 'FREQ=MONTHLY', days: 33, matches: (t, s) => t.day === s.day && sameTime(t, s) },
  { rule: 'FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=18;BYMINUTE=0', days: 33, matches: (t) => t.day === t.daysInMonth && t.hour === 18 && t.minute === 0 },
  { rule: 'FREQ=MONTHLY;INTERVAL=2;BYDAY=1MO', days: 70, matches: (t, s) => monthsSince(t, s) % 2 === 0 && t.weekday === 1 && t.day <= 7 && sameTime(t, s) },
  { rule: 'FREQ=MONTHLY;BYDAY=-1FR,MO', days: 9, matches: (t, s) => ((t.weekday === 5 && t.day > t.daysInMonth - 7) || t.weekday === 1) && sameTime(t, s) },
  { rule: 'FREQ=YEARLY', days: 367, matches: (t, s) => t.month === s.month && t.day === s.day && sameTime(t, s) },
  { rule: 'FREQ=YEARLY;BYMONTH=3,9;BYMONTHDAY=1', days: 200, matches: (t, s) => [3, 9].includes(t.month) && t.day === 1 && sameTime(t, s) },
];

test('the next occurrence of a reminder started months ago is found for every FREQ, with and without BY parts, and matches a brute-force reference', () => {
  for (const zone of ['Europe/Berlin', 'America/New_York', 'UTC']) {
    const startLocal = DateTime.fromISO(START, { zone });
    const s = local(startLocal.setZone('UTC', { keepLocalTime: true }).toMillis());
    for (const { rule, days, matches } of CASES) {
      for (const afterText of ['2026-01-20T10:03:00Z', '2026-03-29T00:50:00Z', '2026-11-01T05:30:00Z']) {
        const afterDate = new Date(afterText);
        const expected = reference(startLocal, zone, (t) => matches(t, s), afterDate, days);
        const actual = nextOccurrence({ date: startLocal.toJSDate(), notifyOffset: 0, recurrence: rule, timezone: zone }, afterDate);
        assert.ok(actual, `${rule} in ${zone} after ${afterText}: an occurrence`);
        assert.equal(actual.toISOString(), expected && new Date(expected).toISOString(), `${rule} in ${zone} after ${afterText}`);
      }
    }
  }
});

test('a minutely reminder keeps recurring months after its start: the scheduler rolls it to the next five-minute step', async () => {
  const res = await h.request({ method: 'POST', url: '/v1/users/minutely/reminders', payload: { date: new Date(Math.ceil(Date.now() / 60_000) * 60_000 + 120_000).toISOString(), message: 'm', recurrence: 'FREQ=MINUTELY;INTERVAL=5', timezone: 'UTC', channels: ['inbox'] } });
  assert.equal(res.statusCode, 201, res.body);
  const start = new Date(res.json().date as string);
  const scheduler = new ReminderScheduler(h.db.pool, h.ctx.log, h.services.recurrences);
  for (const days of [1, 30, 150]) {
    const at = new Date(start.getTime() + days * 86_400_000 + 7 * 60_000);
    assert.ok((await scheduler.rollDue(10, at)) >= 1, `rolled after ${days} days`);
    const { rows } = await h.db.pool.query<{ next_fire_at: Date | null }>(`SELECT next_fire_at FROM reminders WHERE id = $1`, [res.json().id]);
    assert.equal(rows[0]!.next_fire_at?.toISOString(), new Date(start.getTime() + days * 86_400_000 + 10 * 60_000).toISOString(), `still recurring after ${days} days`);
  }
});
