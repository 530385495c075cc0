import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Pool } from '../../db/pool.ts';
import type { Logger } from '../../log/index.ts';
import { coerceError } from '../../log/index.ts';
import type { Provider } from '../../channels/types.ts';
import { releaseLeases, type ClaimedDelivery } from '../repository.ts';
import { Claimer } from '../claimer.ts';
import type { Next } from '../../db/wake-loop.ts';
import type { Broker } from '../../core/broker.ts';
import { dispatchSubject, encodeJob } from './job.ts';

export interface DispatchPublisherOptions {
  readonly pool: Pool;
  readonly broker: Broker;
  readonly log: Logger;
  readonly providers: readonly Provider[];
  /** Subject prefix. Default `herald.dispatch`. */
  readonly prefix?: string;
  readonly batchSize?: number;
  /**
   * Lease on a published row. It must outlast the broker's whole redelivery schedule (AckWait
   * and BackOff × MaxDeliver), or the row would be claimed and published a second time while
   * its first message is still being delivered. Default 15 min.
   */
  readonly leaseSeconds?: number;
  /** Publishes in flight. Default 256. */
  readonly concurrency?: number;
}

/**
 * The broker transport, publishing side: a claimer (the same SKIP LOCKED claim, lease, liveness
 * lock and wake loop as the PostgreSQL worker) that publishes each claimed row to its provider's
 * subject with `<delivery id>:<attempt>` as dedupe id, and gives back the rows it could not
 * publish. DispatchWorker runs the messages through the engine's delivery step.
 */
export class DispatchPublisher {
  readonly id = `${hostname()}:${process.pid}:dispatch:${randomBytes(3).toString('hex')}`;
  readonly #o: Required<DispatchPublisherOptions>;
  // Engine workers release rows of claimers whose liveness lock is free (dead); the claimer's
  // lock keeps them off the rows this publisher has handed to the broker (src/dispatch/liveness.ts).
  readonly #claimer: Claimer;
  #failures = 0;

  constructor(options: DispatchPublisherOptions) {
    this.#o = { prefix: 'herald.dispatch', batchSize: 500, leaseSeconds: 900, concurrency: 256, ...options };
    this.#claimer = new Claimer({
      pool: options.pool,
      log: options.log,
      id: this.id,
      providers: this.#o.providers,
      leaseSeconds: this.#o.leaseSeconds,
      livenessName: 'herald:dispatch-liveness',
      maxIdleMs: 1000,
      errorMessage: 'dispatch publisher round failed; retrying in 1 s',
      room: () => this.#o.batchSize,
      take: (jobs) => this.#take(jobs),
    });
  }

  /** Whether the publisher holds its liveness lock now (it claims nothing while it does not). */
  get alive(): boolean {
    return this.#claimer.alive;
  }

  async start(): Promise<void> {
    for (const provider of this.#o.providers) await this.#o.broker.ensureTopic(dispatchSubject(this.#o.prefix, provider));
    await this.#claimer.start();
  }

  async stop(): Promise<void> {
    await this.#claimer.stop();
    await this.#claimer.release();
  }

  /** Publish a claimed batch; rows that could not be published are given back and the next round waits. */
  async #take(jobs: ClaimedDelivery[]): Promise<Next> {
    const failed = await this.#publish(jobs);
    if (failed.length === 0) {
      this.#failures = 0;
      return 'again';
    }
    await releaseLeases(this.#o.pool, this.id, failed);
    this.#failures++;
    return { until: Date.now() + Math.min(30_000, 250 * 2 ** Math.min(this.#failures, 8)) };
  }

  /** Publish a claimed batch; returns the ids that could not be published. */
  async #publish(jobs: readonly ClaimedDelivery[]): Promise<string[]> {
    const failed: string[] = [];
    let next = 0;
    let logged = false;
    await Promise.all(
      Array.from({ length: Math.min(this.#o.concurrency, jobs.length) }, async () => {
        for (let job = jobs[next++]; job; job = jobs[next++]) {
          try {
            await this.#o.broker.publish(dispatchSubject(this.#o.prefix, job.provider), encodeJob(job), {
              dedupeId: `${job.id}:${job.attempt}`,
              attributes: { deliveryId: job.id, attempt: String(job.attempt) },
            });
          } catch (err) {
            if (!logged) this.#o.log.warn({ err: coerceError(err) }, 'publishing due deliveries failed; released for a later round');
            logged = true;
            failed.push(job.id);
          }
        }
      }),
    );
    return failed;
  }
}
