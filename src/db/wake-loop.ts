import type { Pool } from './pool.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import { Listener } from './listener.ts';

/**
 * What a round asks of the loop: run again at once (it did a full batch), sleep until a time
 * (epoch ms) unless poked sooner, or sleep until then whatever happens (`deaf`: backing off from
 * an outage, when a NOTIFY must not make it hammer what is down).
 */
export type Next = 'again' | { readonly until: number; readonly deaf?: boolean };

export interface WakeLoopOptions {
  readonly pool: Pool;
  readonly log: Logger;
  /** NOTIFY channel that wakes the loop (none: timers and pokes only). */
  readonly channel?: string;
  /**
   * What a NOTIFY payload means; default: run a round now. Return a time (epoch ms) to run a
   * round then instead (a row that becomes due later).
   */
  readonly onNotify?: (payload: string) => number | undefined;
  /** Longest sleep whatever a round says: the safety net for a lost NOTIFY. */
  readonly maxSleepMs: number;
  /** One round of work. Thrown errors are logged and the loop sleeps `errorDelayMs`. */
  readonly round: () => Promise<Next>;
  readonly errorMessage: string;
  readonly errorDelayMs?: number;
}

/**
 * The one loop every PostgreSQL-driven role runs (delivery claims, reminder rolls, the event
 * relay, the dispatch publisher): LISTEN for new work, keep a timer armed for the next due time,
 * sleep in between. A poke (a NOTIFY, a reconnect of the LISTEN connection, `poke()`) during a
 * round makes the next sleep end at once, so no wake-up is lost between a round's query and its
 * sleep. Timers armed with `wakeAt` outlive rounds; the earliest one wins.
 */
export class WakeLoop {
  readonly #o: WakeLoopOptions;
  readonly #listener: Listener | undefined;
  #running = false;
  #dirty = true;
  #deaf = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #pokeWaiters: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  constructor(options: WakeLoopOptions) {
    this.#o = options;
    this.#listener = options.channel ? new Listener(options.pool, options.log) : undefined;
  }

  get running(): boolean {
    return this.#running;
  }

  async start(): Promise<void> {
    this.#running = true;
    if (this.#listener && this.#o.channel) {
      this.#listener.onReconnect(() => this.poke());
      await this.#listener.listen(this.#o.channel, (payload) => {
        const at = this.#o.onNotify?.(payload);
        if (at === undefined || at <= Date.now() + 1) this.poke();
        else this.wakeAt(at);
      });
    }
    this.#loop = this.#run();
  }

  /** Stop after the current round; resolves when it has ended and the LISTEN connection is closed. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#interrupt();
    await this.#loop;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    await this.#listener?.close();
  }

  /** Run a round as soon as possible (unless the loop is backing off). */
  poke(): void {
    this.#dirty = true;
    if (!this.#deaf) this.#interrupt();
  }

  /** Run a round at `at` (epoch ms) at the latest; an earlier timer already armed stays. */
  wakeAt(at: number): void {
    if (!this.#running || at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.poke();
    }, Math.max(0, at - Date.now()));
  }

  /** Resolves at the next poke or stop: for a round that waits for something else meanwhile. */
  nextPoke(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#pokeWaiters.push(resolve));
  }

  #interrupt(): void {
    this.#wake?.();
    for (const w of this.#pokeWaiters.splice(0)) w();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let next: Next;
      try {
        this.#dirty = false;
        next = await this.#o.round();
      } catch (err) {
        this.#o.log.error({ err: coerceError(err) }, this.#o.errorMessage);
        next = { until: Date.now() + (this.#o.errorDelayMs ?? 1000), deaf: true };
      }
      if (!this.#running) break;
      if (next === 'again') continue;
      const deaf = next.deaf === true;
      if (this.#dirty && !deaf) continue;
      await this.#sleep(Math.min(next.until, Date.now() + this.#o.maxSleepMs), deaf);
    }
  }

  async #sleep(until: number, deaf: boolean): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    this.#deaf = deaf;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      timer = setTimeout(resolve, Math.max(0, until - Date.now()));
    });
    clearTimeout(timer);
    this.#wake = undefined;
    this.#deaf = false;
  }
}

/** The usual NOTIFY payload: a due time in epoch milliseconds (onNotify); anything else is no time. */
export function dueTimePayload(payload: string): number | undefined {
  const at = Number(payload);
  return Number.isFinite(at) ? at : undefined;
}
