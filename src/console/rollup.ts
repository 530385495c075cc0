import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { foldOutcomes } from './stats.ts';

/** How often the API role folds outcomes into the per-minute rollup. */
export const FOLD_EVERY_MS = 5_000;

/**
 * The loop that keeps `delivery_minutes` current, run by every API process: each tick one of
 * them folds (the state row's lock decides), the others skip. Never throws; a failed fold is
 * logged and the next tick takes up where the last successful one ended.
 */
export class DeliveryRollup {
  readonly #pool: Pool;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(pool: Pool, log: Logger) {
    this.#pool = pool;
    this.#log = log;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = this.#foldAll().then(
        () => undefined,
        (err: unknown) => this.#log.warn({ err }, 'could not fold delivery outcomes into the console rollup; trying again'),
      ).finally(() => { this.#running = undefined; });
    }, FOLD_EVERY_MS);
    this.#timer.unref();
  }

  /** Fold until caught up (a full step means more is waiting), unless stopped meanwhile. */
  async #foldAll(): Promise<void> {
    while (this.#timer && (await foldOutcomes(this.#pool)) === 'more');
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
