import type { Queryable } from '../db/pool.ts';
import type { ClaimedDelivery, Outcome } from './repository.ts';
import { checkLaterStep } from './fallback-repository.ts';

const REASONS = {
  delivered: 'not sent: an earlier step was delivered',
  read: 'not sent: the inbox item was read',
} as const;

/**
 * The fallback step of a delivery (docs/timing.md § Fallback chains): a delivery of a later step
 * is checked against its condition when it is claimed, whatever cancelled or did not cancel it
 * before. Most are cancelled earlier (by the outcome statement, or when the inbox item is read);
 * this is the safety net for the race between a step coming due and the outcome or read that
 * should have stopped it. Deliveries of the first step (and without steps) pass untouched.
 */
export class FallbackStep {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** A cancelled outcome (already written, with its event) when the step must not go; else undefined. */
  async check(job: ClaimedDelivery): Promise<Outcome | undefined> {
    if (!job.step) return undefined;
    const reason = await checkLaterStep(this.#db, job.id, job.attempt <= 1);
    return reason ? { id: job.id, kind: 'cancelled', error: REASONS[reason] } : undefined;
  }
}
