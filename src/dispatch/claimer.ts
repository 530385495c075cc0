import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import type { Provider } from '../channels/types.ts';
import { WakeLoop, dueTimePayload, type Next } from '../db/wake-loop.ts';
import { DELIVERIES_CHANNEL } from '../db/wakeup.ts';
import { claimDue, nextRunAt, type ClaimedDelivery } from './repository.ts';
import { LivenessLock } from './liveness.ts';

export interface ClaimerOptions {
  readonly pool: Pool;
  readonly log: Logger;
  /** The claimer's id: `locked_by` of the rows it leases, and the name of its liveness lock. */
  readonly id: string;
  readonly providers: readonly Provider[];
  readonly leaseSeconds: number;
  /** application_name of the liveness lock's connection. */
  readonly livenessName: string;
  /** Longest sleep without a wake-up (a safety net; NOTIFY and the due-time timer do the work). */
  readonly maxIdleMs: number;
  readonly errorMessage: string;
  /** How many rows to claim now; may wait (for free slots) first. 0: nothing this round. */
  room(loop: WakeLoop): Promise<number> | number;
  /** Hand claimed rows on (send them, publish them); may ask the loop to back off. */
  take(jobs: ClaimedDelivery[]): Promise<Next | void> | Next | void;
}

/**
 * Where jobs come from in PostgreSQL: due rows claimed with SKIP LOCKED and leased to this
 * claimer, in one wake loop (NOTIFY for new work, a timer for the next due time). It holds a
 * liveness lock for as long as it runs and claims nothing while it does not hold it: other
 * processes release the rows of a claimer whose lock is free, taking it for dead
 * (src/dispatch/liveness.ts). The PostgreSQL worker and the broker publisher are both claimers.
 */
export class Claimer {
  readonly #o: ClaimerOptions;
  readonly #liveness: LivenessLock;
  readonly #loop: WakeLoop;

  constructor(options: ClaimerOptions) {
    this.#o = options;
    this.#liveness = new LivenessLock(options.pool, options.id, options.log, options.livenessName);
    this.#loop = new WakeLoop({
      pool: options.pool,
      log: options.log,
      channel: DELIVERIES_CHANNEL,
      // The payload is the earliest due time (epoch ms) of the rows just made due.
      onNotify: dueTimePayload,
      // The claimer bounds its own idle sleeps; this only caps a back-off a transport asks for.
      maxSleepMs: Math.max(options.maxIdleMs, 30_000),
      errorMessage: options.errorMessage,
      round: () => this.#round(),
    });
  }

  /** Whether the liveness lock is held now (nothing is claimed while it is not). */
  get alive(): boolean {
    return this.#liveness.held;
  }

  async start(): Promise<void> {
    await this.#liveness.start();
    await this.#loop.start();
  }

  /** Stop claiming (the current round ends first). The liveness lock is kept until release(). */
  stop(): Promise<void> {
    return this.#loop.stop();
  }

  release(): Promise<void> {
    return this.#liveness.stop();
  }

  poke(): void {
    this.#loop.poke();
  }

  /** Claim again at `at` (epoch ms) at the latest: a retry written for then. */
  wakeAt(at: number): void {
    this.#loop.wakeAt(at);
  }

  async #round(): Promise<Next> {
    if (!this.#liveness.held) {
      await Promise.race([this.#liveness.whenHeld(), this.#loop.nextPoke()]);
      return 'again';
    }
    const room = await this.#o.room(this.#loop);
    if (room <= 0 || !this.#loop.running) return 'again';
    const jobs = await claimDue(this.#o.pool, this.#o.id, room, this.#o.leaseSeconds, this.#o.providers);
    if (jobs.length > 0) return (await this.#o.take(jobs)) ?? 'again';
    const next = await nextRunAt(this.#o.pool, this.#o.providers);
    const now = Date.now();
    // Rows due but not claimable right now are locked by another claim: look again soon.
    return { until: Math.min(now + this.#o.maxIdleMs, next ? Math.max(next.getTime(), now + 5) : Infinity) };
  }
}
