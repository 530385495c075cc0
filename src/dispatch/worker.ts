import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import { Listener } from '../db/listener.ts';
import type { Channel, Provider, Verdict } from '../channels/types.ts';
import { claimDue, nextRunAt, recordOutcomes, type ClaimedDelivery, type Outcome } from './store.ts';
import { DeadWorkerSweeper, LivenessLock } from './liveness.ts';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.ts';
import { outcomeOf } from './outcome.ts';
import { DELIVERIES_CHANNEL } from '../db/wakeup.ts';
import type { EngineMetrics } from './metrics.ts';

/** How often a worker looks for rows left by dead workers. */
const SWEEP_INTERVAL_MS = 2_000;
/** How long a worker's liveness lock must be seen free before its rows are released (liveness.ts). */
const LIVENESS_GRACE_MS = 5_000;

export interface WorkerOptions {
  readonly batchSize: number;
  readonly concurrency: number;
  readonly leaseSeconds: number;
  /** Outcomes are written when this many are waiting, or after flushDelayMs. */
  readonly flushSize?: number;
  readonly flushDelayMs?: number;
  readonly backoff?: BackoffPolicy;
  /** Longest sleep without a wake-up (a safety net; NOTIFY and the due-time timer do the work). */
  readonly maxIdleMs?: number;
  readonly workerId?: string;
  /** How often to look for dead workers' rows, and how long a free liveness lock must stay free first. */
  readonly sweepIntervalMs?: number;
  readonly livenessGraceMs?: number;
}

/**
 * Claims due deliveries and sends them. Wakes on NOTIFY (new work) and on a timer armed for the
 * next due time, so a delivery starts within milliseconds of its time rather than on a poll
 * tick. Keeps up to `concurrency` deliveries in flight (sending, or sent but not yet recorded),
 * which also bounds what a crash can re-send.
 */
export class DeliveryWorker {
  readonly id: string;
  readonly #pool: Pool;
  readonly #channels: ReadonlyMap<Provider, Channel>;
  readonly #providers: Provider[];
  readonly #log: Logger;
  readonly #metrics: EngineMetrics;
  readonly #opts: Required<Omit<WorkerOptions, 'workerId' | 'livenessGraceMs'>>;
  readonly #listener: Listener;
  #inflight = 0;
  #stopping = false;
  #dirty = true;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #slotWaiter: (() => void) | undefined;
  #buffer: Outcome[] = [];
  #flushTimer: NodeJS.Timeout | undefined;
  readonly #flushes = new Set<Promise<void>>();
  #idleWaiters: Array<() => void> = [];
  readonly #perProvider = new Map<Provider, { lateness: { observe(v: number): void }; sendDuration: { observe(v: number): void } }>();
  readonly #liveness: LivenessLock;
  readonly #sweeper: DeadWorkerSweeper;
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(pool: Pool, channels: ReadonlyMap<Provider, Channel>, log: Logger, metrics: EngineMetrics, options: WorkerOptions) {
    this.id = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.#pool = pool;
    this.#channels = channels;
    this.#providers = [...channels.keys()];
    this.#log = log.child({ worker: this.id });
    this.#metrics = metrics;
    this.#opts = {
      batchSize: options.batchSize,
      concurrency: options.concurrency,
      leaseSeconds: options.leaseSeconds,
      flushSize: options.flushSize ?? 250,
      flushDelayMs: options.flushDelayMs ?? 5,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      maxIdleMs: options.maxIdleMs ?? 30_000,
      sweepIntervalMs: options.sweepIntervalMs ?? SWEEP_INTERVAL_MS,
    };
    this.#listener = new Listener(pool, this.#log);
    this.#liveness = new LivenessLock(pool, this.id, this.#log, 'herald:worker-liveness');
    this.#sweeper = new DeadWorkerSweeper(pool, this.id, options.livenessGraceMs ?? LIVENESS_GRACE_MS);
  }

  get providers(): readonly Provider[] {
    return this.#providers;
  }

  async start(): Promise<void> {
    await this.#liveness.start();
    await this.#sweep();
    this.#sweepTimer = setInterval(() => void this.#sweep(), this.#opts.sweepIntervalMs);
    this.#listener.onReconnect(() => this.#poke());
    await this.#listener.listen(DELIVERIES_CHANNEL, (payload) => {
      const at = Number(payload);
      if (!Number.isFinite(at) || at <= Date.now() + 1) this.#poke();
      else this.#arm(at);
    });
    this.#loop = this.#run();
    this.#log.info({ providers: this.#providers }, 'delivery worker started');
  }

  /** Stop claiming, let in-flight sends finish and their outcomes be written (up to timeoutMs). */
  async stop(timeoutMs = 25_000): Promise<void> {
    this.#stopping = true;
    this.#poke();
    await this.#loop;
    const drained = new Promise<void>((resolve) => {
      if (this.#inflight === 0) resolve();
      else this.#idleWaiters.push(resolve);
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    await this.#flush();
    await Promise.allSettled([...this.#flushes]);
    if (this.#inflight > 0) this.#log.warn({ inflight: this.#inflight }, 'stopped with deliveries in flight; their leases will expire and they will be retried');
    await this.#listener.close();
    if (this.#timer) clearTimeout(this.#timer);
    clearInterval(this.#sweepTimer);
    await this.#liveness.stop();
  }

  /** Whether this worker holds its liveness lock now (it claims nothing while it does not). */
  get alive(): boolean {
    return this.#liveness.held;
  }

  /** Release rows held by workers that died, so they are sent again now, not after their lease. */
  async #sweep(): Promise<void> {
    if (this.#stopping) return;
    try {
      const released = await this.#sweeper.sweep();
      if (released > 0) {
        this.#log.warn({ released }, 'released deliveries held by a worker that stopped');
        this.#poke();
      }
    } catch (err) {
      this.#log.warn({ err: coerceError(err) }, 'sweeping for orphaned deliveries failed');
    }
  }

  #poke(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  #arm(at: number): void {
    if (this.#stopping || at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#poke();
    }, Math.max(0, at - Date.now()));
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      try {
        const capacity = this.#opts.concurrency - this.#inflight;
        // Claim in sizeable batches: waiting for a quarter batch of free slots saves many tiny claims.
        const worthClaiming = Math.max(1, Math.min(this.#opts.batchSize, this.#opts.concurrency) >> 2);
        if (capacity < worthClaiming) {
          await new Promise<void>((resolve) => (this.#slotWaiter = resolve));
          continue;
        }
        if (!this.#liveness.held) {
          // Other workers would take rows claimed now for a dead worker's and send them again.
          await new Promise<void>((resolve) => {
            this.#wake = resolve; // stop() pokes
            void this.#liveness.whenHeld().then(resolve);
            if (this.#stopping) resolve();
          });
          this.#wake = undefined;
          continue;
        }
        this.#dirty = false;
        const jobs = await claimDue(this.#pool, this.id, Math.min(this.#opts.batchSize, capacity), this.#opts.leaseSeconds, this.#providers);
        if (jobs.length > 0) {
          for (const job of jobs) this.#dispatch(job);
          continue;
        }
        await this.#idle();
      } catch (err) {
        this.#log.error({ err: coerceError(err) }, 'claiming deliveries failed; retrying in 1 s');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Nothing due: sleep until the next due row, a NOTIFY, or the safety-net interval. */
  async #idle(): Promise<void> {
    const next = await nextRunAt(this.#pool, this.#providers);
    if (this.#dirty || this.#stopping) return;
    const now = Date.now();
    // Rows due but not claimable right now are locked by another worker's claim: look again soon.
    const at = next ? Math.max(next.getTime(), now + 5) : now + this.#opts.maxIdleMs;
    this.#arm(Math.min(at, now + this.#opts.maxIdleMs));
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      if (this.#dirty || this.#stopping) resolve();
    });
    this.#wake = undefined;
  }

  /** Label-bound metric children, resolved once per provider (labels are hashed on every call otherwise). */
  #metricsFor(provider: Provider): { lateness: { observe(v: number): void }; sendDuration: { observe(v: number): void } } {
    let m = this.#perProvider.get(provider);
    if (!m) {
      m = { lateness: this.#metrics.lateness.labels(provider), sendDuration: this.#metrics.sendDuration.labels(provider) };
      this.#perProvider.set(provider, m);
    }
    return m;
  }

  #dispatch(job: ClaimedDelivery): void {
    this.#inflight++;
    const started = Date.now();
    this.#metricsFor(job.provider).lateness.observe(Math.max(0, started - job.dueAt.getTime()) / 1000);
    void this.#decide(job, started).then((outcome) => {
      this.#metrics.outcomes.inc({ provider: job.provider, outcome: outcome.kind });
      this.#record(outcome);
    });
  }

  async #decide(job: ClaimedDelivery, now: number): Promise<Outcome> {
    if (job.skipReason) return { id: job.id, kind: 'cancelled', error: job.skipReason };
    if (job.expiresAt && job.expiresAt.getTime() <= now) return { id: job.id, kind: 'expired', error: 'its time to live passed before it could be sent' };
    const channel = this.#channels.get(job.provider);
    if (!channel) return { id: job.id, kind: 'retry', error: `no ${job.provider} channel in this worker`, delayMs: 60_000 };
    let verdict: Verdict;
    const t0 = performance.now();
    try {
      verdict = await channel.send(job);
    } catch (err) {
      verdict = { status: 'retry', error: coerceError(err).message };
    }
    this.#metricsFor(job.provider).sendDuration.observe((performance.now() - t0) / 1000);
    return outcomeOf(job, verdict, channel.maxAttempts, this.#opts.backoff);
  }

  #record(outcome: Outcome): void {
    this.#buffer.push(outcome);
    if (this.#buffer.length >= this.#opts.flushSize) void this.#flush();
    else this.#flushTimer ??= setTimeout(() => void this.#flush(), this.#opts.flushDelayMs);
  }

  #flush(): Promise<void> {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const slice = this.#buffer;
    if (slice.length === 0) return Promise.resolve();
    this.#buffer = [];
    const p = this.#write(slice).finally(() => {
      this.#flushes.delete(p);
      this.#inflight -= slice.length;
      const retryAt = slice.filter((o) => o.kind === 'retry').map((o) => Date.now() + (o as { delayMs: number }).delayMs);
      if (retryAt.length > 0 && !this.#stopping) this.#arm(Math.min(...retryAt));
      this.#slotWaiter?.();
      this.#slotWaiter = undefined;
      if (this.#inflight === 0) for (const w of this.#idleWaiters.splice(0)) w();
    });
    this.#flushes.add(p);
    return p;
  }

  /** Write a slice; a database outage is waited out (the rows stay leased meanwhile). */
  async #write(slice: Outcome[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const unrecorded = await recordOutcomes(this.#pool, slice);
        if (unrecorded.length > 0) this.#log.error({ deliveries: unrecorded }, 'these outcomes could not be recorded; the leases will expire and these deliveries will be sent again');
        return;
      } catch (err) {
        if (attempt >= 30 || (this.#stopping && attempt >= 3)) {
          this.#log.error({ err: coerceError(err), deliveries: slice.length }, 'could not record outcomes; the leases will expire and these deliveries will be sent again');
          return;
        }
        this.#log.warn({ err: coerceError(err) }, 'recording outcomes failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
  }
}
