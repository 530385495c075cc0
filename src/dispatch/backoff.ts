/**
 * Exponential backoff with jitter: attempt n waits base·2^(n−1), capped, then a random 50–100 %
 * of that ("equal jitter") so retries from one provider outage spread out instead of returning
 * in a wave. A provider's Retry-After wins when given.
 */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 15 * 60_000 };

export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random = Math.random): number {
  const exp = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}
