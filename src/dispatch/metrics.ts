import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface EngineMetrics {
  readonly lateness: Histogram<'provider'>;
  readonly sendDuration: Histogram<'provider'>;
  readonly outcomes: Counter<'provider' | 'outcome'>;
  readonly due: Gauge;
  readonly oldestDue: Gauge;
}

const cache = new WeakMap<Registry, EngineMetrics>();

/** The engine's metrics, created once per registry (several roles share one process). */
export function engineMetrics(registry: Registry): EngineMetrics {
  const hit = cache.get(registry);
  if (hit) return hit;
  const m: EngineMetrics = {
    lateness: new Histogram({
      name: 'herald_delivery_lateness_seconds',
      help: 'Send start minus due time',
      labelNames: ['provider'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    sendDuration: new Histogram({
      name: 'herald_delivery_send_seconds',
      help: 'Time a channel took to answer one delivery',
      labelNames: ['provider'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    outcomes: new Counter({
      name: 'herald_deliveries_total',
      help: 'Delivery attempts recorded, by provider and outcome (sent, retry, failed, expired, cancelled, device-invalid)',
      labelNames: ['provider', 'outcome'],
      registers: [registry],
    }),
    due: new Gauge({ name: 'herald_deliveries_due', help: 'Deliveries due and waiting for a worker', registers: [registry] }),
    oldestDue: new Gauge({ name: 'herald_deliveries_oldest_due_seconds', help: 'Age of the oldest due delivery', registers: [registry] }),
  };
  cache.set(registry, m);
  return m;
}
