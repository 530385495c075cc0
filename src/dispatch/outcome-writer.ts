import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import { WakeupCoalescer } from '../db/wakeup.ts';
import { recordOutcomes, type Outcome } from './repository.ts';

export interface OutcomeWriterOptions {
  readonly pool: Pool;
  readonly log: Logger;
  /** A slice is written when this many outcomes wait, or flushDelayMs after the first. */
  readonly flushSize?: number;
  readonly flushDelayMs?: number;
  /**
   * Tries per slice while the database is out (1: give up at once, the caller retries whole).
   * After close() a slice gets at most 3.
   */
  readonly attempts?: number;
  /** Logged when a slice is given up: what happens to its deliveries then. */
  readonly giveUpMessage: string;
}

interface Waiting {
  readonly outcome: Outcome;
  readonly done: (err?: unknown) => void;
}

/**
 * The engine's one outcome writer: outcomes are batched into slices (500 or 20 ms by default:
 * each slice is one statement and one commit, whose fixed cost PostgreSQL pays once for all its
 * rows; in a burst, slices of about 85 rows at 5 ms became about 240 at 20 ms, and PostgreSQL
 * spent a fifth less CPU per delivery, docs/performance.md),
 * each slice one statement with its events (recordOutcomes), so a crash re-sends at most what was
 * in flight. `write` resolves when its outcome is recorded and rejects when its slice was given
 * up; the caller decides what that means (a lease left to expire, a broker message nacked).
 */
export class OutcomeWriter {
  readonly #o: Required<Omit<OutcomeWriterOptions, 'pool' | 'log' | 'giveUpMessage'>> & OutcomeWriterOptions;
  #buffer: Waiting[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #writes = new Set<Promise<void>>();
  #closing = false;
  /** Outcome slices append events without NOTIFYing in their transaction; the relay is woken after commit. */
  readonly #wake: WakeupCoalescer;

  constructor(options: OutcomeWriterOptions) {
    this.#o = { flushSize: 500, flushDelayMs: 20, attempts: 30, ...options };
    this.#wake = new WakeupCoalescer(options.pool);
  }

  write(outcome: Outcome): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#buffer.push({ outcome, done: (err) => (err === undefined ? resolve() : reject(err)) });
      if (this.#buffer.length >= this.#o.flushSize) this.flush();
      else this.#timer ??= setTimeout(() => this.flush(), this.#o.flushDelayMs);
    });
  }

  /** Write what waits now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const slice = this.#buffer;
    if (slice.length === 0) return;
    this.#buffer = [];
    const p = this.#write(slice.map((w) => w.outcome)).then(
      () => slice.forEach((w) => w.done()),
      (err: unknown) => slice.forEach((w) => w.done(err ?? new Error('outcome not recorded'))),
    ).finally(() => this.#writes.delete(p));
    this.#writes.add(p);
  }

  /** Write what waits and wait for every write under way; outages are then waited out briefly. */
  async close(): Promise<void> {
    this.#closing = true;
    this.flush();
    await Promise.allSettled([...this.#writes]);
  }

  /** Write a slice; a database outage is waited out (the rows stay leased meanwhile). */
  async #write(slice: Outcome[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const unrecorded = await recordOutcomes(this.#o.pool, slice);
        this.#wake.eventsAdded();
        if (unrecorded.length > 0) this.#o.log.error({ deliveries: unrecorded }, 'these outcomes could not be recorded; the leases will expire and these deliveries will be sent again');
        return;
      } catch (err) {
        if (attempt >= this.#o.attempts || (this.#closing && attempt >= 3)) {
          this.#o.log.error({ err: coerceError(err), deliveries: slice.length }, this.#o.giveUpMessage);
          throw err;
        }
        this.#o.log.warn({ err: coerceError(err) }, 'recording outcomes failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
  }
}
