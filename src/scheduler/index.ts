import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import { Listener } from '../db/listener.ts';
import { appendEvent } from '../events/outbox.ts';
import { nextOccurrence } from '../reminders/schedule.ts';
import { claimDueReminders, setNextFireAt, msUntilNextFire } from '../reminders/repository.ts';
import { REMINDERS_CHANNEL } from '../dispatch/wakeup.ts';
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
  readonly #listener: Listener;
  #stopping = false;
  #dirty = true;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(pool: Pool, log: Logger) {
    this.#pool = pool;
    this.#log = log.child({ role: 'scheduler' });
    this.#listener = new Listener(pool, this.#log);
  }

  async start(): Promise<void> {
    this.#listener.onReconnect(() => this.#poke());
    await this.#listener.listen(REMINDERS_CHANNEL, () => this.#poke());
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#poke();
    await this.#loop;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#listener.close();
  }

  #poke(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      try {
        this.#dirty = false;
        const rolled = await this.rollDue(100);
        if (rolled === 100) continue;
        const ms = await msUntilNextFire(this.#pool);
        const delay = ms === null || ms === undefined ? 60_000 : Math.min(60_000, Math.max(5, Math.ceil(ms)));
        if (this.#dirty || this.#stopping) continue;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#timer = setTimeout(resolve, delay);
        });
        clearTimeout(this.#timer);
        this.#wake = undefined;
      } catch (err) {
        this.#log.error({ err: coerceError(err) }, 'rolling reminders failed; retrying in 1 s');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /**
   * Roll every reminder whose occurrence has come; returns how many were rolled. `at` stands in
   * for the current time (tests walk a reminder through DST changes with it).
   */
  async rollDue(limit: number, at?: Date): Promise<number> {
    return withTransaction(this.#pool, async (client) => {
      const rows = await claimDueReminders(client, limit, at ?? null);
      const now = at ?? new Date();
      for (const r of rows) {
        let next: Date | null = null;
        try {
          next = nextOccurrence({ date: r.date, notifyOffset: r.notifyOffset, recurrence: r.recurrence, timezone: r.timezone }, now);
        } catch (err) {
          this.#log.warn({ err: coerceError(err), reminder: r.id }, 'recurrence could not be evaluated; reminder stops recurring');
        }
        await setNextFireAt(client, r.id, next);
        await appendEvent(client, { userId: r.userId, type: 'reminder:fired', itemType: 'reminder', itemId: r.id, data: { firedAt: r.nextFireAt?.toISOString(), nextFireAt: next?.toISOString() ?? null } });
        if (next) await scheduleReminderOccurrence(client, r, next);
      }
      return rows.length;
    });
  }
}
