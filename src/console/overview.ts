import type { Queryable } from '../db/pool.ts';
import { backlog } from '../dispatch/repository.ts';
import { LATENESS_BOUNDS_MS, minuteRows, percentile, stepFor } from './stats.ts';

/** What the console's overview shows, from one poll (GET /v1/stats/deliveries). */
export interface Overview {
  readonly generatedAt: string;
  readonly from: string;
  readonly minutes: number;
  /** Minutes per point: 1 up to a two-hour window, 5 up to six hours, else 15. */
  readonly step: number;
  /** Outcomes per step (`minute` is its start), channel and outcome; steps without any are absent. */
  readonly perMinute: Array<{ minute: string; channel: string; outcome: string; count: number }>;
  /** From a due time to the send, over the sent deliveries of the window (bucket upper bounds, ms). */
  readonly lateness: {
    readonly boundsMs: number[];
    readonly sent: number;
    readonly p50Ms: number | null;
    readonly p99Ms: number | null;
    readonly perMinute: Array<{ minute: string; p50Ms: number | null; p99Ms: number | null }>;
  };
  readonly byProvider: Array<{ provider: string; sent: number; failed: number; expired: number }>;
  /** Deliveries due now and not yet claimed, and how long the oldest has waited. */
  readonly backlog: { due: number; oldestDueSeconds: number };
}

export async function overview(db: Queryable, minutes: number): Promise<Overview> {
  const step = stepFor(minutes);
  const [{ from, now, rows }, due] = await Promise.all([minuteRows(db, minutes, step), backlog(db)]);
  const perMinute = new Map<string, { minute: string; channel: string; outcome: string; count: number }>();
  const buckets = new Map<number, number>();
  const bucketsByMinute = new Map<string, Map<number, number>>();
  const byProvider = new Map<string, { provider: string; sent: number; failed: number; expired: number }>();
  for (const r of rows) {
    const minute = r.minute.toISOString();
    const key = `${minute} ${r.channel} ${r.outcome}`;
    const cell = perMinute.get(key) ?? { minute, channel: r.channel, outcome: r.outcome, count: 0 };
    cell.count += r.count;
    perMinute.set(key, cell);
    const p = byProvider.get(r.provider) ?? { provider: r.provider, sent: 0, failed: 0, expired: 0 };
    if (r.outcome === 'sent' || r.outcome === 'failed' || r.outcome === 'expired') p[r.outcome] += r.count;
    byProvider.set(r.provider, p);
    if (r.outcome === 'sent') {
      buckets.set(r.bucket, (buckets.get(r.bucket) ?? 0) + r.count);
      const m = bucketsByMinute.get(minute) ?? new Map<number, number>();
      m.set(r.bucket, (m.get(r.bucket) ?? 0) + r.count);
      bucketsByMinute.set(minute, m);
    }
  }
  return {
    generatedAt: now.toISOString(),
    from: from.toISOString(),
    minutes,
    step,
    perMinute: [...perMinute.values()].sort((a, b) => a.minute.localeCompare(b.minute)),
    lateness: {
      boundsMs: [...LATENESS_BOUNDS_MS],
      sent: [...buckets.values()].reduce((a, b) => a + b, 0),
      p50Ms: percentile(buckets, 0.5),
      p99Ms: percentile(buckets, 0.99),
      perMinute: [...bucketsByMinute].sort(([a], [b]) => a.localeCompare(b)).map(([minute, b]) => ({ minute, p50Ms: percentile(b, 0.5), p99Ms: percentile(b, 0.99) })),
    },
    byProvider: [...byProvider.values()].sort((a, b) => b.failed - a.failed || a.provider.localeCompare(b.provider)),
    backlog: { due: due.due, oldestDueSeconds: due.oldestDueSeconds },
  };
}
