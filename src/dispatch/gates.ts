import type { Pool, PoolClient } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { Batcher } from '../core/batcher.ts';
import { coerceError } from '../log/index.ts';
import type { ClaimedDelivery, Outcome } from './repository.ts';

/**
 * What the steps a delivery passes before its send share: running them in order, deciding a
 * worker's slice in one transaction, and caching what they read per app.
 */

/** What the delivery step asks before it sends: undefined to go on, or the outcome already recorded. */
export interface DeliveryGate {
  check(job: ClaimedDelivery): Promise<Outcome | undefined> | Outcome | undefined;
}

/**
 * The steps in order (docs/timing.md: a digest collects first, then the frequency cap decides):
 * the first that records an outcome ends the delivery's turn.
 */
export function gateChain(...gates: readonly DeliveryGate[]): DeliveryGate {
  return {
    async check(job: ClaimedDelivery): Promise<Outcome | undefined> {
      for (const gate of gates) {
        const outcome = await gate.check(job);
        if (outcome) return outcome;
      }
      return undefined;
    },
  };
}

/**
 * The checks a worker makes at about the same time (its claimed slice) decided together in one
 * transaction: a commit, with its flush to disk, per delivery made such a step the slowest part of
 * a busy send. If the transaction fails, each delivery is retried in five seconds (`what` names
 * the step in its error): a step that cannot decide must not be skipped.
 */
export function gateBatcher<T extends { readonly job: ClaimedDelivery }>(
  pool: Pool,
  what: string,
  decide: (db: PoolClient, asks: readonly T[]) => Promise<(Outcome | undefined)[]>,
): Batcher<T, Outcome | undefined> {
  return new Batcher(async (asks) => {
    try {
      return await withTransaction(pool, (client) => decide(client, asks));
    } catch (err) {
      const error = `${what} failed: ${coerceError(err).message}`;
      return asks.map(({ job }) => ({ id: job.id, kind: 'retry' as const, error, delayMs: 5_000 }));
    }
  });
}

/**
 * A read a step trusts for `ttlMs` (an app's capped types, whether anyone digests a type):
 * concurrent callers share one read, and a failed read is not kept, so the next delivery asks again.
 */
export class ReadCache<V> {
  readonly #ttlMs: number;
  readonly #entries = new Map<string, { readonly until: number; readonly value: Promise<V> }>();

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  get(key: string, read: () => Promise<V>): Promise<V> {
    const now = Date.now();
    const cached = this.#entries.get(key);
    if (cached && cached.until > now) return cached.value;
    const value = read();
    value.catch(() => this.#entries.delete(key));
    this.#entries.set(key, { until: now + this.#ttlMs, value });
    return value;
  }

  /** Forget one key, or everything. */
  forget(key?: string): void {
    if (key === undefined) this.#entries.clear();
    else this.#entries.delete(key);
  }
}
