import { retryAfterMs } from './errors.ts';

/** How 429 and 503 answers are retried. */
export interface RetryOptions {
  /** Attempts in all, the first included (default 3; 1 = no retries). */
  attempts?: number;
  /** Wait between attempts when the server gives no `Retry-After` (default 250 ms, doubling, ±50 % jitter). */
  baseDelayMs?: number;
  /** The longest wait the client accepts; a longer `Retry-After` returns the answer at once (default 30 s). */
  maxDelayMs?: number;
}

const RETRIED = new Set([429, 503]);

/**
 * Wraps fetch so 429 Too Many Requests and 503 Service Unavailable (herald draining, a replica
 * restarting) are tried again, waiting what `Retry-After` asks. Bounded by attempts and by the
 * longest acceptable wait, and stopped by the request's AbortSignal. Written here because
 * openapi-fetch has no retries and middleware cannot re-send a request; a second HTTP client
 * (ky, got) only for this would double what a browser loads.
 *
 * Repeating a POST is safe because the client puts an `Idempotency-Key` on it before this runs,
 * so every attempt carries the same key.
 */
export function withRetries(fetchImpl: (request: Request) => Promise<Response>, options: RetryOptions = {}): (request: Request) => Promise<Response> {
  const attempts = Math.max(1, options.attempts ?? 3);
  const base = options.baseDelayMs ?? 250;
  const max = options.maxDelayMs ?? 30_000;
  return async (request) => {
    for (let attempt = 1; ; attempt++) {
      // Each attempt sends a copy: a body stream can be read only once.
      const response = await fetchImpl(attempt < attempts ? request.clone() : request);
      if (!RETRIED.has(response.status) || attempt >= attempts) return response;
      const asked = retryAfterMs(response.headers.get('retry-after'));
      const wait = asked ?? base * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      if (wait > max) return response;
      await response.body?.cancel().catch(() => undefined);
      await sleep(wait, request.signal);
    }
  };
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
