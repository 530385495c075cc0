import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import { PURGE_STEPS, purgeBatch, type PurgeOptions } from './purge.ts';

export interface RetentionOptions extends PurgeOptions {
  /** Seconds between passes. */
  readonly intervalSeconds: number;
  /** Pause between two batches, so a long purge leaves the database to the queue in between. */
  readonly pauseMs?: number;
}

/**
 * The retention job of the scheduler role. When the pass is due (`maintenance_runs.next_run_at`,
 * a time in the database that every scheduler shares), the scheduler that moves the due time
 * forward runs it; the others find nothing due. Each step deletes in batches until one comes
 * back short. The process checks whether a pass is due once a minute (or each interval, if
 * shorter); a failing pass is logged and tried again next time.
 */
export class RetentionJob {
  readonly #pool: Pool;
  readonly #log: Logger;
  readonly #options: RetentionOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopping = false;

  constructor(pool: Pool, log: Logger, options: RetentionOptions) {
    this.#pool = pool;
    this.#log = log.child({ job: 'retention' });
    this.#options = options;
  }

  start(): void {
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(ms: number): void {
    if (this.#stopping) return;
    this.#timer = setTimeout(() => {
      this.#running = this.runIfDue()
        .then(() => undefined)
        .catch((err: unknown) => this.#log.error({ err: coerceError(err) }, 'retention pass failed; it runs again at the next interval'))
        .finally(() => {
          this.#running = undefined;
          this.#schedule(Math.min(60_000, this.#options.intervalSeconds * 1000));
        });
    }, ms);
    this.#timer.unref();
  }

  /** Run a pass if one is due and no other scheduler took it; the rows removed per table, or undefined. */
  async runIfDue(): Promise<Record<string, number> | undefined> {
    const { rowCount } = await this.#pool.query(
      `UPDATE maintenance_runs SET next_run_at = now() + make_interval(secs => $1::int), last_run_at = now()
        WHERE name = 'retention' AND next_run_at <= now()`,
      [this.#options.intervalSeconds],
    );
    if (!rowCount) return undefined;
    const removed = await this.pass();
    await this.#pool.query(`UPDATE maintenance_runs SET last_result = $1::jsonb WHERE name = 'retention'`, [JSON.stringify(removed)]);
    if (Object.values(removed).some((n) => n > 0)) this.#log.info({ removed }, 'retention pass removed old rows');
    return removed;
  }

  /** One pass over every step, in batches (also what `runIfDue` runs). */
  async pass(): Promise<Record<string, number>> {
    const removed: Record<string, number> = {};
    for (const step of PURGE_STEPS) {
      let total = 0;
      for (;;) {
        if (this.#stopping) break;
        const n = await purgeBatch(this.#pool, step, this.#options);
        total += n;
        if (n < this.#options.batch) break;
        await new Promise((r) => setTimeout(r, this.#options.pauseMs ?? 10));
      }
      removed[step.table] = (removed[step.table] ?? 0) + total;
    }
    return removed;
  }
}
