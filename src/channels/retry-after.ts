/**
 * The longest wait herald takes from a provider's Retry-After. The header comes from whatever
 * answered — for Web Push an endpoint an end user chose — so it is input, not an instruction:
 * `Retry-After: 99999999999999` would otherwise be a date millions of years ahead that PostgreSQL
 * cannot store (the slice of outcomes it was written with fails), and a far HTTP-date would park
 * the delivery forever. A provider that asks for more than an hour is retried hourly until the
 * channel's attempt limit or the notification's TTL ends it.
 */
export const MAX_RETRY_AFTER_MS = 60 * 60_000;

/** A delay from a provider, made safe: finite, not negative, at most MAX_RETRY_AFTER_MS. */
export function clampRetryAfter(ms: number | undefined): number | undefined {
  if (ms === undefined || Number.isNaN(ms)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/**
 * Parse an HTTP Retry-After value (delta-seconds or an HTTP-date, RFC 9110 §10.2.3) into ms,
 * clamped to MAX_RETRY_AFTER_MS. Anything else (negative, fractional, garbage) is ignored and the
 * engine's backoff decides.
 */
export function parseRetryAfter(value: string | string[] | undefined | null, now = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return clampRetryAfter(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : clampRetryAfter(at - now);
}
