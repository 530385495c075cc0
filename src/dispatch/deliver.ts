import { coerceError } from '../log/index.ts';
import type { Channel, Provider, Verdict } from '../channels/types.ts';
import type { ClaimedDelivery, Outcome } from './repository.ts';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.ts';
import { outcomeOf, skipOutcome } from './outcome.ts';
import type { EngineMetrics } from './metrics.ts';
import type { AppProblemTracker } from './app-problems.ts';
import type { DeliveryGate } from './gates.ts';
import type { FallbackStep } from './fallback-step.ts';

type Observer = { observe(v: number): void };

export interface DeliveryStepOptions {
  readonly channels: ReadonlyMap<Provider, Channel>;
  readonly metrics?: EngineMetrics | undefined;
  readonly backoff?: BackoffPolicy | undefined;
  /** Records what verdicts say about an app's configuration (GET /v1/apps/{id}). */
  readonly problems?: AppProblemTracker | undefined;
  /** Asked before each send (frequency caps, src/dispatch/cap-step.ts); may record the outcome itself. */
  readonly gate?: DeliveryGate | undefined;
  /** Checks a later fallback step before it is sent (fallback-step.ts). */
  readonly fallbacks?: FallbackStep | undefined;
}

/**
 * One delivery, whichever transport brought it: the checks before sending (cancelled, device
 * gone, time to live passed), the send, the verdict turned into an outcome, the app's status
 * kept in step, and the engine's metrics (lateness, send time, outcomes). The SKIP LOCKED
 * worker and the broker consumer differ only in where jobs come from and when they are acked.
 */
export class DeliveryStep {
  readonly #channels: ReadonlyMap<Provider, Channel>;
  readonly #metrics: EngineMetrics | undefined;
  readonly #backoff: BackoffPolicy;
  readonly #problems: AppProblemTracker | undefined;
  readonly #gate: DeliveryGate | undefined;
  readonly #fallbacks: FallbackStep | undefined;
  readonly #perProvider = new Map<Provider, { lateness: Observer; sendDuration: Observer }>();

  constructor(options: DeliveryStepOptions) {
    this.#channels = options.channels;
    this.#metrics = options.metrics;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#problems = options.problems;
    this.#gate = options.gate;
    this.#fallbacks = options.fallbacks;
  }

  get providers(): Provider[] {
    return [...this.#channels.keys()];
  }

  /**
   * Decide one claimed delivery. Never throws: a channel that throws is a retry. `whileSending`
   * runs when the send starts and its result when it ends (a broker lease kept alive meanwhile).
   */
  async deliver(job: ClaimedDelivery, whileSending?: () => () => void): Promise<Outcome> {
    const started = Date.now();
    this.#metricsFor(job.provider)?.lateness.observe(Math.max(0, started - job.dueAt.getTime()) / 1000);
    const outcome = await this.#decide(job, started, whileSending);
    this.#count(job, outcome);
    return outcome;
  }

  /** An outcome the transport decided without sending (a broker that gave up), counted like the others. */
  settle(job: ClaimedDelivery, outcome: Outcome): Outcome {
    this.#count(job, outcome);
    return outcome;
  }

  async #decide(job: ClaimedDelivery, now: number, whileSending: (() => () => void) | undefined): Promise<Outcome> {
    const skipped = skipOutcome(job, now);
    if (skipped) return skipped;
    if (job.step) {
      // A check that cannot run (the database is out) is a retry: the step must not go unchecked.
      const stopped = await this.#fallbacks?.check(job).catch((err: unknown) => ({ id: job.id, kind: 'retry' as const, error: `checking the fallback step failed: ${coerceError(err).message}`, delayMs: 5_000 }));
      if (stopped) return stopped;
    }
    const held = await this.#gate?.check(job);
    if (held) return held;
    const channel = this.#channels.get(job.provider);
    if (!channel) return { id: job.id, kind: 'retry', error: `no ${job.provider} channel in this worker`, delayMs: 60_000 };
    let verdict: Verdict;
    const t0 = performance.now();
    const done = whileSending?.();
    try {
      verdict = await channel.send(job);
    } catch (err) {
      verdict = { status: 'retry', error: coerceError(err).message };
    } finally {
      done?.();
    }
    this.#metricsFor(job.provider)?.sendDuration.observe((performance.now() - t0) / 1000);
    await this.#problems?.track(job.appId, job.provider, verdict);
    return outcomeOf(job, verdict, channel.maxAttempts, this.#backoff);
  }

  #count(job: ClaimedDelivery, outcome: Outcome): void {
    this.#metrics?.outcomes.inc({ provider: job.provider, outcome: outcome.kind === 'settled' ? outcome.as : outcome.kind });
  }

  /** Label-bound metric children, resolved once per provider (labels are hashed on every call otherwise). */
  #metricsFor(provider: Provider): { lateness: Observer; sendDuration: Observer } | undefined {
    if (!this.#metrics) return undefined;
    let m = this.#perProvider.get(provider);
    if (!m) {
      m = { lateness: this.#metrics.lateness.labels(provider), sendDuration: this.#metrics.sendDuration.labels(provider) };
      this.#perProvider.set(provider, m);
    }
    return m;
  }
}
