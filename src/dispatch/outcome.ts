import type { Verdict } from '../channels/types.ts';
import { clampRetryAfter } from '../channels/retry-after.ts';
import type { ClaimedDelivery, Outcome } from './repository.ts';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.ts';

/**
 * The engine's verdict rules, shared by the PostgreSQL worker and broker dispatch: a retry past
 * the channel's attempt limit is failed (dead letter); a retry whose next attempt would fall
 * after the delivery's TTL is expired; a dead device is invalidated (a raw-device target has no
 * device row, so it is just failed). A provider's Retry-After is clamped here again, whatever the
 * channel did: it is the one number from outside that becomes a due time.
 */
export function outcomeOf(job: ClaimedDelivery, verdict: Verdict, maxAttempts: number, backoff: BackoffPolicy = DEFAULT_BACKOFF): Outcome {
  switch (verdict.status) {
    case 'sent':
      return { id: job.id, kind: 'sent', providerId: verdict.providerId };
    case 'failed':
      return { id: job.id, kind: 'failed', error: verdict.error, detail: verdict.detail };
    case 'device-invalid':
      return job.deviceId
        ? { id: job.id, kind: 'device-invalid', error: verdict.error, detail: verdict.detail, deviceId: job.deviceId }
        : { id: job.id, kind: 'failed', error: verdict.error, detail: verdict.detail };
    case 'retry': {
      if (job.attempt >= maxAttempts) {
        return { id: job.id, kind: 'failed', error: `gave up after ${job.attempt} attempts: ${verdict.error}`, detail: verdict.detail };
      }
      const delayMs = clampRetryAfter(verdict.retryAfterMs) ?? backoffDelay(job.attempt, backoff);
      if (job.expiresAt && Date.now() + delayMs >= job.expiresAt.getTime()) {
        return { id: job.id, kind: 'expired', error: `its time to live ends before the next attempt (${verdict.error})`, detail: verdict.detail };
      }
      return { id: job.id, kind: 'retry', error: verdict.error, detail: verdict.detail, delayMs };
    }
  }
}

/**
 * The checks before sending: a delivery whose notification was cancelled or whose device is gone
 * is cancelled; one whose time to live has passed (at `now`, epoch ms) is expired. Undefined: send it.
 */
export function skipOutcome(job: ClaimedDelivery, now: number): Outcome | undefined {
  if (job.skipReason) return { id: job.id, kind: 'cancelled', error: job.skipReason };
  if (job.expiresAt && job.expiresAt.getTime() <= now) return { id: job.id, kind: 'expired', error: 'its time to live passed before it could be sent' };
  return undefined;
}
