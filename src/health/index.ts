/**
 * Liveness problems and on-demand gauges that roles contribute: /healthz answers 503 while any
 * check reports a problem (the old APNs worker's probe: the subscription is gone), and /metrics refreshes
 * the gauges (backlog, oldest due age) before it is scraped.
 */
export type HealthCheck = () => Promise<string | undefined>;
export type GaugeRefresher = () => Promise<void>;

export class Health {
  readonly #checks = new Map<string, HealthCheck>();
  readonly #refreshers = new Map<string, GaugeRefresher>();

  addCheck(name: string, check: HealthCheck): void {
    this.#checks.set(name, check);
  }

  removeCheck(name: string): void {
    this.#checks.delete(name);
  }

  addGauges(name: string, refresh: GaugeRefresher): void {
    this.#refreshers.set(name, refresh);
  }

  async problems(): Promise<string[]> {
    const results = await Promise.all(
      [...this.#checks].map(async ([name, check]) => {
        try {
          const problem = await check();
          return problem ? `${name}: ${problem}` : undefined;
        } catch (err) {
          return `${name}: ${(err as Error).message}`;
        }
      }),
    );
    return results.filter((p): p is string => p !== undefined);
  }

  async refreshGauges(): Promise<void> {
    await Promise.all([...this.#refreshers.values()].map((r) => r().catch(() => undefined)));
  }
}
