import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import type { Channel, Provider } from '../channels/types.ts';
import { renewLeases, type ClaimedDelivery } from './repository.ts';
import { DeadWorkerSweeper } from './liveness.ts';
import type { BackoffPolicy } from './backoff.ts';
import type { EngineMetrics } from './metrics.ts';
import { Claimer } from './claimer.ts';
import { FallbackStep } from './fallback-step.ts';
import { DeliveryStep } from './deliver.ts';
import { OutcomeWriter } from './outcome-writer.ts';
import type { AppProblemTracker } from './app-problems.ts';
import type { DeliveryGate } from './gates.ts';
import type { WakeLoop } from '../db/wake-loop.ts';

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
  /** Records app configuration problems that verdicts report (GET /v1/apps/{id}). */
  readonly problems?: AppProblemTracker;
  /** Asked before each send: frequency caps (src/dispatch/cap-step.ts). */
  readonly gate?: DeliveryGate;
}

/**
 * The PostgreSQL transport: claims due deliveries with SKIP LOCKED (Claimer) and runs each
 * through the delivery step; outcomes go to the outcome writer. Keeps up to `concurrency`
 * deliveries in flight (sending, or sent but not yet recorded), which also bounds what a crash
 * can re-send. Also releases the rows of workers that died (DeadWorkerSweeper).
 */
export class DeliveryWorker {
  readonly id: string;
  readonly #log: Logger;
  readonly #providers: Provider[];
  readonly #concurrency: number;
  readonly #batchSize: number;
  readonly #claimer: Claimer;
  readonly #step: DeliveryStep;
  readonly #writer: OutcomeWriter;
  readonly #sweeper: DeadWorkerSweeper;
  readonly #sweepIntervalMs: number;
  #sweepTimer: NodeJS.Timeout | undefined;
  #inflight = 0;
  /** Ids of the rows sending or sent but not yet recorded: their leases are renewed while we live. */
  readonly #leased = new Set<string>();
  readonly #leaseSeconds: number;
  readonly #pool: Pool;
  #stopping = false;
  #slotWaiter: (() => void) | undefined;
  #idleWaiters: Array<() => void> = [];

  constructor(pool: Pool, channels: ReadonlyMap<Provider, Channel>, log: Logger, metrics: EngineMetrics, options: WorkerOptions) {
    this.id = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.#log = log.child({ worker: this.id });
    this.#providers = [...channels.keys()];
    this.#concurrency = options.concurrency;
    this.#batchSize = options.batchSize;
    this.#leaseSeconds = options.leaseSeconds;
    this.#pool = pool;
    this.#step = new DeliveryStep({ channels, metrics, backoff: options.backoff, problems: options.problems, fallbacks: new FallbackStep(pool), gate: options.gate });
    this.#writer = new OutcomeWriter({
      pool,
      log: this.#log,
      ...(options.flushSize !== undefined ? { flushSize: options.flushSize } : {}),
      ...(options.flushDelayMs !== undefined ? { flushDelayMs: options.flushDelayMs } : {}),
      giveUpMessage: 'could not record outcomes; the leases will expire and these deliveries will be sent again',
    });
    this.#claimer = new Claimer({
      pool,
      log: this.#log,
      id: this.id,
      providers: this.#providers,
      leaseSeconds: options.leaseSeconds,
      livenessName: 'herald:worker-liveness',
      maxIdleMs: options.maxIdleMs ?? 30_000,
      errorMessage: 'claiming deliveries failed; retrying in 1 s',
      room: (loop) => this.#room(loop),
      take: (jobs) => {
        for (const job of jobs) this.#run(job);
      },
    });
    this.#sweeper = new DeadWorkerSweeper(pool, this.id, options.livenessGraceMs ?? LIVENESS_GRACE_MS);
    this.#sweepIntervalMs = options.sweepIntervalMs ?? SWEEP_INTERVAL_MS;
  }

  get providers(): readonly Provider[] {
    return this.#providers;
  }

  /** Whether this worker holds its liveness lock now (it claims nothing while it does not). */
  get alive(): boolean {
    return this.#claimer.alive;
  }

  async start(): Promise<void> {
    await this.#claimer.start();
    await this.#sweep();
    this.#sweepTimer = setInterval(() => void this.#sweep(), this.#sweepIntervalMs);
    this.#log.info({ providers: this.#providers }, 'delivery worker started');
  }

  /** Stop claiming, let in-flight sends finish and their outcomes be written (up to timeoutMs). */
  async stop(timeoutMs = 25_000): Promise<void> {
    this.#stopping = true;
    this.#slotWaiter?.();
    await this.#claimer.stop();
    const drained = new Promise<void>((resolve) => {
      if (this.#inflight === 0) resolve();
      else this.#idleWaiters.push(resolve);
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    await this.#writer.close();
    if (this.#inflight > 0) this.#log.warn({ inflight: this.#inflight }, 'stopped with deliveries in flight; their leases will expire and they will be retried');
    clearInterval(this.#sweepTimer);
    await this.#claimer.release();
  }

  /** Claim in sizeable batches: waiting for a quarter batch of free slots saves many tiny claims. */
  async #room(loop: WakeLoop): Promise<number> {
    const worthClaiming = Math.max(1, Math.min(this.#batchSize, this.#concurrency) >> 2);
    while (this.#concurrency - this.#inflight < worthClaiming) {
      if (this.#stopping) return 0;
      await Promise.race([new Promise<void>((resolve) => (this.#slotWaiter = resolve)), loop.nextPoke()]);
    }
    return this.#stopping ? 0 : Math.min(this.#batchSize, this.#concurrency - this.#inflight);
  }

  #run(job: ClaimedDelivery): void {
    this.#inflight++;
    this.#leased.add(job.id);
    void this.#step
      .deliver(job)
      .then(async (outcome) => {
        await this.#writer.write(outcome);
        // Armed once the row is written: a claim before that would find it still leased.
        if (outcome.kind === 'retry' && !this.#stopping) this.#claimer.wakeAt(Date.now() + outcome.delayMs);
        if (outcome.kind === 'settled' && outcome.until && !this.#stopping) this.#claimer.wakeAt(outcome.until.getTime());
      })
      .catch(() => undefined) // given up and logged by the writer: the lease expires, the row is sent again
      .finally(() => {
        this.#leased.delete(job.id);
        this.#inflight--;
        this.#slotWaiter?.();
        this.#slotWaiter = undefined;
        if (this.#inflight === 0) for (const w of this.#idleWaiters.splice(0)) w();
      });
  }

  /** Renew the leases of rows still in flight, and release rows held by workers that died (sent again now, not after their lease). */
  async #sweep(): Promise<void> {
    if (this.#stopping) return;
    // Renew first: rows this worker is still sending keep their lease (no second claim sends them).
    if (this.#leased.size > 0 && this.#claimer.alive) {
      try {
        await renewLeases(this.#pool, this.id, [...this.#leased], this.#leaseSeconds);
      } catch (err) {
        this.#log.warn({ err: coerceError(err) }, 'renewing leases failed');
      }
    }
    try {
      const released = await this.#sweeper.sweep();
      if (released > 0) {
        this.#log.warn({ released }, 'released deliveries held by a worker that stopped');
        this.#claimer.poke();
      }
    } catch (err) {
      this.#log.warn({ err: coerceError(err) }, 'sweeping for orphaned deliveries failed');
    }
  }
}
