import type { Queryable } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';

/** At most `limit` requests per `windowSeconds` (fixed windows aligned on the database clock). */
export interface LimitRule {
  readonly limit: number;
  readonly windowSeconds: number;
}

export interface LimitDecision {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Seconds until the window ends (at least 1). */
  readonly resetSeconds: number;
}

interface Batch {
  rule: LimitRule;
  waiters: ((count: number, resetSeconds: number) => void)[];
  failures: ((err: unknown) => void)[];
  flying: boolean;
}

/**
 * Rate limits shared by every API process, counted in PostgreSQL (table `rate_limits`): the
 * database herald already needs is the shared store, so there is no cache service to run, and
 * a count is exact whichever process a request reaches.
 *
 * A request waits for the count that includes it, but hits on one bucket that arrive while its
 * query is out are added up and sent as one (`count = count + n`): under load a process asks
 * about a bucket once per round trip, not once per request. A bucket found over its limit is
 * remembered in the process until its window ends, so a flood costs no queries at all once it
 * has been refused. If the database cannot be asked, the request is let through (limits
 * protect herald; a database outage is answered elsewhere).
 */
export class RateLimiter {
  readonly #db: Queryable;
  readonly #log: Logger | undefined;
  readonly #batches = new Map<string, Batch>();
  readonly #pending = new Map<string, number>();
  readonly #blocked = new Map<string, { until: number; limit: number }>();

  constructor(db: Queryable, log?: Logger) {
    this.#db = db;
    this.#log = log;
  }

  /** Refused without counting: the bucket went over its limit in this window (no query). */
  blocked(bucket: string): LimitDecision | undefined {
    const b = this.#blocked.get(bucket);
    if (!b) return undefined;
    const left = b.until - Date.now();
    if (left <= 0) {
      this.#blocked.delete(bucket);
      return undefined;
    }
    return { allowed: false, limit: b.limit, remaining: 0, resetSeconds: Math.max(1, Math.ceil(left / 1000)) };
  }

  /** Count one request against `bucket` and say whether it is within the rule. */
  async hit(bucket: string, rule: LimitRule): Promise<LimitDecision> {
    const refused = this.blocked(bucket);
    if (refused) return refused;
    let count: number;
    let resetSeconds: number;
    try {
      [count, resetSeconds] = await new Promise<[number, number]>((resolve, reject) => {
        let batch = this.#batches.get(bucket);
        if (!batch) {
          batch = { rule, waiters: [], failures: [], flying: false };
          this.#batches.set(bucket, batch);
        }
        batch.waiters.push((c, r) => resolve([c, r]));
        batch.failures.push(reject);
        if (!batch.flying) void this.#flush(bucket, batch);
      });
    } catch (err) {
      this.#log?.warn({ err: coerceError(err), bucket }, 'rate limit not counted; request let through');
      return { allowed: true, limit: rule.limit, remaining: rule.limit, resetSeconds: rule.windowSeconds };
    }
    const allowed = count <= rule.limit;
    if (!allowed) this.#blocked.set(bucket, { until: Date.now() + resetSeconds * 1000, limit: rule.limit });
    if (this.#blocked.size > 100_000) this.#blocked.clear();
    return { allowed, limit: rule.limit, remaining: Math.max(0, rule.limit - count), resetSeconds };
  }

  async #flush(bucket: string, batch: Batch): Promise<void> {
    batch.flying = true;
    while (batch.waiters.length > 0) {
      const waiters = batch.waiters.splice(0);
      const failures = batch.failures.splice(0);
      try {
        const { count, reset } = await addHits(this.#db, bucket, waiters.length, batch.rule.windowSeconds);
        // The batch's requests took the last `n` places of the count, in arrival order.
        waiters.forEach((w, i) => w(count - waiters.length + i + 1, reset));
      } catch (err) {
        for (const f of failures) f(err);
      }
    }
    batch.flying = false;
    this.#batches.delete(bucket);
  }

  /** Rows of windows that ended long ago (the scheduler's retention pass calls this). */
  static async prune(db: Queryable, olderThanSeconds = 86_400): Promise<number> {
    const { rowCount } = await db.query(`DELETE FROM rate_limits WHERE window_start < now() - make_interval(secs => $1::int)`, [olderThanSeconds]);
    return rowCount ?? 0;
  }
}

/**
 * Add `n` hits to the bucket's current window (started on the database clock, so every process
 * agrees where windows begin) and return the window's count and the seconds left in it.
 */
async function addHits(db: Queryable, bucket: string, n: number, windowSeconds: number): Promise<{ count: number; reset: number }> {
  const { rows } = await db.query<{ count: number; reset: number }>(
    `WITH w AS (SELECT to_timestamp(floor(extract(epoch FROM now()) / $3::int) * $3::int) AS start)
     INSERT INTO rate_limits AS r (bucket, window_start, count) SELECT $1, w.start, $2::int FROM w
     ON CONFLICT (bucket) DO UPDATE
       SET count = CASE WHEN r.window_start >= EXCLUDED.window_start THEN r.count + EXCLUDED.count ELSE EXCLUDED.count END,
           window_start = greatest(r.window_start, EXCLUDED.window_start)
     RETURNING count, greatest(1, ceil(extract(epoch FROM r.window_start + make_interval(secs => $3::int) - now())))::int AS reset`,
    [bucket, n, windowSeconds],
  );
  return rows[0]!;
}
