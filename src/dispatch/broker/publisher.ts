import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Pool } from '../../db/pool.ts';
import { Listener } from '../../db/listener.ts';
import type { Logger } from '../../log/index.ts';
import { coerceError } from '../../log/index.ts';
import type { Provider } from '../../channels/types.ts';
import { claimDue, nextRunAt, releaseLeases, type ClaimedDelivery } from '../store.ts';
import { LivenessLock } from '../liveness.ts';
import { DELIVERIES_CHANNEL } from '../../db/wakeup.ts';
import type { Broker } from '../../brokers/types.ts';
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
 * Broker dispatch, publishing side: claims due deliveries with the engine's own claim (the same
 * SKIP LOCKED query and lease the workers use), publishes each to its provider's subject with
 * `<delivery id>:<attempt>` as dedupe id, and gives back the rows it could not publish. The
 * channel workers consuming the subjects record verdicts with the engine's recordOutcomes.
 */
export class DispatchPublisher {
  readonly id = `${hostname()}:${process.pid}:dispatch:${randomBytes(3).toString('hex')}`;
  readonly #o: Required<DispatchPublisherOptions>;
  readonly #listener: Listener;
  // Engine workers release rows of claimers whose liveness lock is free (dead); holding ours
  // keeps them off the rows this publisher has handed to the broker. Taken again after a lost
  // connection; no claims while it is not held (src/dispatch/liveness.ts).
  readonly #liveness: LivenessLock;
  #running = false;
  #loop: Promise<void> | undefined;
  #sleeper: (() => void) | undefined;
  #dirty = true;

  constructor(options: DispatchPublisherOptions) {
    this.#o = { prefix: 'herald.dispatch', batchSize: 500, leaseSeconds: 900, concurrency: 256, ...options };
    this.#listener = new Listener(options.pool, options.log);
    this.#liveness = new LivenessLock(options.pool, this.id, options.log, 'herald:dispatch-liveness');
  }

  /** Whether the publisher holds its liveness lock now (it claims nothing while it does not). */
  get alive(): boolean {
    return this.#liveness.held;
  }

  async start(): Promise<void> {
    await this.#liveness.start();
    for (const provider of this.#o.providers) await this.#o.broker.ensureTopic(dispatchSubject(this.#o.prefix, provider));
    this.#running = true;
    this.#listener.onReconnect(() => this.#poke());
    await this.#listener.listen(DELIVERIES_CHANNEL, () => this.#poke());
    this.#loop = this.#run();
  }

  #poke(): void {
    this.#dirty = true;
    this.#sleeper?.();
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (this.#running) {
      try {
        if (!this.#liveness.held) {
          await new Promise<void>((resolve) => {
            this.#sleeper = resolve; // stop() wakes it
            void this.#liveness.whenHeld().then(resolve);
          });
          this.#sleeper = undefined;
          continue;
        }
        this.#dirty = false;
        const jobs = await claimDue(this.#o.pool, this.id, this.#o.batchSize, this.#o.leaseSeconds, this.#o.providers);
        if (jobs.length > 0) {
          const failed = await this.#publish(jobs);
          if (failed.length > 0) {
            await releaseLeases(this.#o.pool, this.id, failed);
            failures++;
            await this.#sleep(Math.min(30_000, 250 * 2 ** Math.min(failures, 8)));
          } else failures = 0;
          continue;
        }
        const next = await nextRunAt(this.#o.pool, this.#o.providers);
        if (this.#dirty) continue;
        await this.#sleep(next ? Math.min(1000, Math.max(5, next.getTime() - Date.now())) : 1000);
      } catch (err) {
        this.#o.log.error({ err: coerceError(err) }, 'dispatch publisher round failed; retrying in 1 s');
        await this.#sleep(1000);
      }
    }
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

  async #sleep(ms: number): Promise<void> {
    if (!this.#running || this.#dirty) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#sleeper = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    this.#sleeper = undefined;
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#sleeper?.();
    await this.#loop;
    await this.#listener.close();
    await this.#liveness.stop();
  }
}
