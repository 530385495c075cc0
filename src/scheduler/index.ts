import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import { WakeLoop, type Next } from '../db/wake-loop.ts';
import { appendEvent } from '../events/outbox.ts';
import { RecurrenceError, type RecurrenceEvaluator } from '../reminders/recurrence-pool.ts';
import type { Schedulable } from '../reminders/schedule.ts';
import { claimDueReminders, setNextFireAt, msUntilNextFire } from '../reminders/repository.ts';
import { REMINDERS_CHANNEL } from '../db/wakeup.ts';
import { scheduleReminderOccurrence } from './hooks.ts';

/**
 * The scheduler role. Each reminder's next occurrence already waits as a notification (created
 * when the reminder was saved); when that time comes, the scheduler rolls the reminder forward:
 * computes the following occurrence (RRULE in the reminder's zone), stores it as next_fire_at
 * and creates its notification, all in one transaction. Rows are claimed with SKIP LOCKED, so
 * any number of schedulers may run. Wakes on NOTIFY and on a timer for the earliest next_fire_at.
 */
export class ReminderScheduler {
  readonly #pool: Pool;
  readonly #log: Logger;
  readonly #recurrences: RecurrenceEvaluator;
  readonly #loop: WakeLoop;

  constructor(pool: Pool, log: Logger, recurrences: RecurrenceEvaluator) {
    this.#pool = pool;
    this.#recurrences = recurrences;
    this.#log = log.child({ role: 'scheduler' });
    this.#loop = new WakeLoop({
      pool,
      log: this.#log,
      channel: REMINDERS_CHANNEL,
      maxSleepMs: 60_000,
      errorMessage: 'rolling reminders failed; retrying in 1 s',
      round: () => this.#round(),
    });
  }

  start(): Promise<void> {
    return this.#loop.start();
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }

  async #round(): Promise<Next> {
    const rolled = await this.rollDue(100);
    if (rolled === 100) return 'again';
    const ms = await msUntilNextFire(this.#pool);
    return { until: Date.now() + (ms === null || ms === undefined ? 60_000 : Math.max(5, Math.ceil(ms))) };
  }

  /**
   * Roll every reminder whose occurrence has come; returns how many were rolled. `at` stands in
   * for the current time (tests walk a reminder through DST changes with it).
   */
  async rollDue(limit: number, at?: Date): Promise<number> {
    return withTransaction(this.#pool, async (client) => {
      const rows = await claimDueReminders(client, limit, at ?? null);
      const now = at ?? new Date();
      // Evaluated on the evaluator's threads, all at once: the event loop stays free, and the
      // transaction lasts as long as the slowest rule, which its budget bounds.
      const nexts = await Promise.all(rows.map((r) => this.#next(r.id, { date: r.date, notifyOffset: r.notifyOffset, recurrence: r.recurrence, timezone: r.timezone }, now)));
      for (const [i, r] of rows.entries()) {
        const { next, stopped } = nexts[i]!;
        await setNextFireAt(client, r.id, next);
        await appendEvent(client, { userId: r.userId, type: 'reminder:fired', itemType: 'reminder', itemId: r.id, data: { firedAt: r.nextFireAt?.toISOString(), nextFireAt: next?.toISOString() ?? null, ...(stopped ? { stopped } : {}) } });
        if (next) await scheduleReminderOccurrence(client, r, next);
      }
      return rows.length;
    });
  }

  /**
   * The following occurrence, or why there is none. A rule that cannot be evaluated (stored
   * before the rules were checked as strictly as today, or one that overruns its time budget
   * twice) stops recurring: the reminder keeps its row, its `reminder:fired` event says
   * `stopped` and why, and saving the reminder again with a valid rule resumes it. Retrying it
   * on every roll instead would spend a thread's budget on it each time, for ever.
   */
  async #next(id: string, reminder: Schedulable, now: Date): Promise<{ next: Date | null; stopped?: string }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return { next: await this.#recurrences.next(reminder, now) };
      } catch (err) {
        // Once more on a fresh thread: an overrun may be a stall of the machine rather than the rule.
        if (err instanceof RecurrenceError && err.reason === 'budget' && attempt < 2) continue;
        const stopped = err instanceof RecurrenceError ? err.message : 'recurrence: the rule cannot be evaluated';
        this.#log.warn({ err: coerceError(err), reminder: id, recurrence: reminder.recurrence }, 'recurrence could not be evaluated; reminder stops recurring');
        return { next: null, stopped };
      }
    }
  }
}
