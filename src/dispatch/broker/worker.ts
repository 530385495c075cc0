import type { Pool } from '../../db/pool.ts';
import type { Logger } from '../../log/index.ts';
import { coerceError } from '../../log/index.ts';
import type { Channel, Provider } from '../../channels/types.ts';
import type { ClaimedDelivery, Outcome } from '../repository.ts';
import { FallbackStep } from '../fallback-step.ts';
import { DeliveryStep } from '../deliver.ts';
import { OutcomeWriter } from '../outcome-writer.ts';
import type { EngineMetrics } from '../metrics.ts';
import type { AppProblemTracker } from '../app-problems.ts';
import type { DeliveryGate } from '../gates.ts';
import type { Broker, BrokerMessage, Subscription } from '../../core/broker.ts';
import { decodeJob, dispatchSubject } from './job.ts';

export interface DispatchWorkerOptions {
  readonly pool: Pool;
  readonly broker: Broker;
  readonly channels: ReadonlyMap<Provider, Channel>;
  readonly log: Logger;
  /** The engine's metrics (lateness, send time, outcomes), the same as the PostgreSQL worker records. */
  readonly metrics?: EngineMetrics;
  /** Records app configuration problems that verdicts report (GET /v1/apps/{id}). */
  readonly problems?: AppProblemTracker;
  /** Asked before each send: frequency caps (src/dispatch/cap-step.ts), as in the PostgreSQL worker. */
  readonly gate?: DeliveryGate;
  readonly prefix?: string;
  /** Deliveries in flight per provider. Default 256. */
  readonly concurrency?: number;
  /** JetStream AckWait: above the p99 send time (kept alive while a send runs). Default 60 s. */
  readonly ackWaitSeconds?: number;
  /** Redeliveries of one message before its delivery is recorded failed. Default 5. */
  readonly maxDeliver?: number;
  /**
   * BackOff between redeliveries of a message that was not acked. JetStream uses the first value
   * as the AckWait of every delivery, so each value is raised to at least ackWaitSeconds: a first
   * value below it would have messages redelivered (and sent again) while still being sent.
   * Default: none (AckWait between redeliveries).
   */
  readonly backoffMs?: readonly number[];
  readonly drainTimeoutMs?: number;
}

/**
 * The broker transport, sending side: consumes `<prefix>.<provider>` with a durable consumer per
 * provider and runs each job through the engine's delivery step; the outcome goes to the outcome
 * writer and only once it is recorded is the message acked, so a worker killed before its ack has
 * the message redelivered, and the row — still `sending` — is recorded once. A message delivered
 * more than `maxDeliver` times is recorded `failed` and acked.
 */
export class DispatchWorker {
  readonly #o: DispatchWorkerOptions;
  readonly #subscriptions: Subscription[] = [];
  readonly #step: DeliveryStep;
  readonly #writer: OutcomeWriter;

  constructor(options: DispatchWorkerOptions) {
    this.#o = options;
    this.#step = new DeliveryStep({ channels: options.channels, metrics: options.metrics, problems: options.problems, fallbacks: new FallbackStep(options.pool), gate: options.gate });
    // One try: a slice that cannot be written fails its messages, which are nacked and redelivered.
    this.#writer = new OutcomeWriter({ pool: options.pool, log: options.log, attempts: 1, giveUpMessage: 'recording dispatch outcomes failed; the messages will be redelivered' });
  }

  async start(): Promise<void> {
    const prefix = this.#o.prefix ?? 'herald.dispatch';
    const maxDeliver = this.#o.maxDeliver ?? 5;
    const ackWaitSeconds = this.#o.ackWaitSeconds ?? 60;
    const backoffMs = this.#o.backoffMs?.map((ms) => Math.max(ms, ackWaitSeconds * 1000));
    for (const provider of this.#o.channels.keys()) {
      const subject = dispatchSubject(prefix, provider);
      this.#subscriptions.push(
        await this.#o.broker.subscribe(
          {
            topic: subject,
            subscription: `${prefix.replace(/[^A-Za-z0-9_-]/g, '-')}-${provider}`,
            maxInFlight: this.#o.concurrency ?? 256,
            ackDeadlineSeconds: ackWaitSeconds,
            // One more than maxDeliver: that delivery records the failure.
            maxDeliveries: maxDeliver + 1,
            ...(backoffMs && backoffMs.length > 0 ? { backoffMs } : {}),
            retryDelayMs: 1000,
            ...(this.#o.drainTimeoutMs !== undefined ? { drainTimeoutMs: this.#o.drainTimeoutMs } : {}),
          },
          (m) => this.#handle(m, maxDeliver, ackWaitSeconds * 1000),
        ),
      );
    }
  }

  async #handle(m: BrokerMessage, maxDeliver: number, ackWaitMs: number): Promise<void> {
    let job: ClaimedDelivery;
    try {
      job = decodeJob(m.body);
    } catch (err) {
      await m.deadLetter(`not a delivery job: ${coerceError(err).message}`);
      return;
    }
    const outcome: Outcome =
      m.deliveryAttempt > maxDeliver
        ? this.#step.settle(job, { id: job.id, kind: 'failed', error: `broker gave up after ${maxDeliver} deliveries` })
        : await this.#step.deliver(job, () => {
            // A send slower than AckWait keeps its message (in progress) instead of having it redelivered.
            const keepAlive = setInterval(() => void m.extend(ackWaitMs).catch(() => undefined), Math.max(500, ackWaitMs / 2));
            return () => clearInterval(keepAlive);
          });
    await this.#writer.write(outcome); // rejects if it cannot be written: nacked, redelivered
    await m.ack();
  }

  async stop(): Promise<void> {
    for (const s of this.#subscriptions.splice(0)) await s.close();
    await this.#writer.close();
  }
}

