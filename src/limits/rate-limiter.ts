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

interface Loose {
  rule: LimitRule;
  /** The window's count as the database last said, and when that window ends (ms). */
  known: number;
  windowEnds: number;
  /** Counted here, not yet sent. */
  pending: number;
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
  readonly #loose = new Map<string, Loose>();
  readonly #flushMs: number;
  #looseTimer: NodeJS.Timeout | undefined;
  #looseFlying = false;

  constructor(db: Queryable, log?: Logger, options: { flushMs?: number } = {}) {
    this.#db = db;
    this.#log = log;
    this.#flushMs = options.flushMs ?? 200;
  }

  /**
   * Count one event against `bucket` without waiting for the database: the decision uses the
   * last count the database gave plus what this process counted since, and the counts of every
   * bucket go to the database together every `flushMs`. For failed authentications, where a
   * flood from many addresses must not cost a query per attempt and a few extra attempts in
   * the first moments across processes do no harm.
   */
  count(bucket: string, rule: LimitRule): LimitDecision {
    const refused = this.blocked(bucket);
    if (refused) return refused;
    const now = Date.now();
    let entry = this.#loose.get(bucket);
    if (!entry || entry.windowEnds <= now) {
      entry = { rule, known: 0, windowEnds: now + rule.windowSeconds * 1000, pending: entry && entry.windowEnds > now ? entry.pending : 0 };
      this.#loose.set(bucket, entry);
    }
    entry.pending++;
    this.#scheduleLooseFlush();
    const total = entry.known + entry.pending;
    const resetSeconds = Math.max(1, Math.ceil((entry.windowEnds - now) / 1000));
    const allowed = total <= rule.limit;
    if (!allowed) this.#blocked.set(bucket, { until: entry.windowEnds, limit: rule.limit });
    return { allowed, limit: rule.limit, remaining: Math.max(0, rule.limit - total), resetSeconds };
  }

  #scheduleLooseFlush(): void {
    if (this.#looseTimer || this.#looseFlying) return;
    this.#looseTimer = setTimeout(() => {
      this.#looseTimer = undefined;
      void this.#flushLoose();
    }, this.#flushMs);
    this.#looseTimer.unref();
  }

  async #flushLoose(): Promise<void> {
    const sending = [...this.#loose].filter(([, e]) => e.pending > 0).map(([bucket, e]) => ({ bucket, entry: e, n: e.pending }));
    if (sending.length === 0) return;
    for (const s of sending) s.entry.pending -= s.n;
    this.#looseFlying = true;
    try {
      const counts = await addHits(this.#db, sending.map((s) => ({ bucket: s.bucket, n: s.n, windowSeconds: s.entry.rule.windowSeconds })));
      const now = Date.now();
      for (const s of sending) {
        const c = counts.get(s.bucket);
        if (!c) continue;
        s.entry.known = c.count;
        s.entry.windowEnds = now + c.reset * 1000;
        if (c.count + s.entry.pending > s.entry.rule.limit) this.#blocked.set(s.bucket, { until: s.entry.windowEnds, limit: s.entry.rule.limit });
      }
      // Buckets no one has counted in for a window are forgotten.
      for (const [bucket, e] of this.#loose) if (e.pending === 0 && e.windowEnds <= now) this.#loose.delete(bucket);
    } catch (err) {
      this.#log?.warn({ err: coerceError(err) }, 'rate limit counts not sent; kept for the next try');
      for (const s of sending) s.entry.pending += s.n;
    } finally {
      this.#looseFlying = false;
    }
    if ([...this.#loose.values()].some((e) => e.pending > 0)) this.#scheduleLooseFlush();
  }

  /** Send what is counted but not yet sent (on shutdown; tests). */
  async flush(): Promise<void> {
    if (this.#looseTimer) clearTimeout(this.#looseTimer);
    this.#looseTimer = undefined;
    await this.#flushLoose();
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
        const { count, reset } = (await addHits(this.#db, [{ bucket, n: waiters.length, windowSeconds: batch.rule.windowSeconds }])).get(bucket)!;
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
 * Add `n` hits to each bucket's current window (started on the database clock, so every process
 * agrees where windows begin) and return each window's count and the seconds left in it. One
 * statement for any number of buckets.
 */
async function addHits(
  db: Queryable,
  hits: readonly { bucket: string; n: number; windowSeconds: number }[],
): Promise<Map<string, { count: number; reset: number }>> {
  const { rows } = await db.query<{ bucket: string; count: number; reset: number }>(
    `INSERT INTO rate_limits AS r (bucket, window_start, count)
     SELECT t.bucket, to_timestamp(floor(extract(epoch FROM now()) / t.secs) * t.secs), t.n
       FROM unnest($1::text[], $2::int[], $3::int[]) AS t (bucket, n, secs)
     ON CONFLICT (bucket) DO UPDATE
       SET count = CASE WHEN r.window_start >= EXCLUDED.window_start THEN r.count + EXCLUDED.count ELSE EXCLUDED.count END,
           window_start = greatest(r.window_start, EXCLUDED.window_start)
     RETURNING r.bucket, r.count,
       greatest(1, ceil(extract(epoch FROM r.window_start - now())
         + (SELECT t.secs FROM unnest($1::text[], $3::int[]) AS t (bucket, secs) WHERE t.bucket = r.bucket LIMIT 1)))::int AS reset`,
    [hits.map((h) => h.bucket), hits.map((h) => h.n), hits.map((h) => h.windowSeconds)],
  );
  return new Map(rows.map((r) => [r.bucket, { count: r.count, reset: r.reset }]));
}
