import type { Pool } from '../../db/pool.ts';
import type { Logger } from '../../log/index.ts';
import { coerceError } from '../../log/index.ts';
import type { Channel, Provider, Verdict } from '../../channels/types.ts';
import { recordOutcomes, type ClaimedDelivery, type Outcome } from '../store.ts';
import { outcomeOf } from '../outcome.ts';
import type { Broker, BrokerMessage, Subscription } from '../../brokers/types.ts';
import { decodeJob, dispatchSubject } from './job.ts';

export interface DispatchWorkerOptions {
  readonly pool: Pool;
  readonly broker: Broker;
  readonly channels: ReadonlyMap<Provider, Channel>;
  readonly log: Logger;
  readonly prefix?: string;
  /** Deliveries in flight per provider. Default 256. */
  readonly concurrency?: number;
  /** JetStream AckWait: above the p99 send time (the lease is extended while a send runs). Default 60 s. */
  readonly ackWaitSeconds?: number;
  /** Redeliveries of one message before its delivery is recorded failed. Default 5. */
  readonly maxDeliver?: number;
  /** BackOff between redeliveries. Default 1 s, 5 s, 30 s, 2 min. */
  readonly backoffMs?: readonly number[];
  readonly drainTimeoutMs?: number;
}

/**
 * Broker dispatch, sending side: consumes `<prefix>.<provider>` with a durable consumer per
 * provider, sends through the channel, records the verdict with the engine's recordOutcomes
 * (in small slices) and only then acks, so a worker killed before its ack has the message
 * redelivered, and the row — still `sending` — is recorded once. A message delivered more than
 * `maxDeliver` times is recorded `failed` and acked.
 */
export class DispatchWorker {
  readonly #o: DispatchWorkerOptions;
  readonly #subscriptions: Subscription[] = [];
  #buffer: Array<{ outcome: Outcome; done: (err?: unknown) => void }> = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(options: DispatchWorkerOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const prefix = this.#o.prefix ?? 'herald.dispatch';
    const maxDeliver = this.#o.maxDeliver ?? 5;
    for (const [provider, channel] of this.#o.channels) {
      const subject = dispatchSubject(prefix, provider);
      this.#subscriptions.push(
        await this.#o.broker.subscribe(
          {
            topic: subject,
            subscription: `${prefix.replace(/[^A-Za-z0-9_-]/g, '-')}-${provider}`,
            maxInFlight: this.#o.concurrency ?? 256,
            ackDeadlineSeconds: this.#o.ackWaitSeconds ?? 60,
            // One more than maxDeliver: that delivery records the failure.
            maxDeliveries: maxDeliver + 1,
            backoffMs: this.#o.backoffMs ?? [1000, 5000, 30_000, 120_000],
            retryDelayMs: 1000,
            ...(this.#o.drainTimeoutMs !== undefined ? { drainTimeoutMs: this.#o.drainTimeoutMs } : {}),
          },
          (m) => this.#handle(m, channel, maxDeliver),
        ),
      );
    }
  }

  async #handle(m: BrokerMessage, channel: Channel, maxDeliver: number): Promise<void> {
    let job: ClaimedDelivery;
    try {
      job = decodeJob(m.body);
    } catch (err) {
      await m.deadLetter(`not a delivery job: ${coerceError(err).message}`);
      return;
    }
    const outcome =
      m.deliveryAttempt > maxDeliver
        ? { id: job.id, kind: 'failed' as const, error: `broker gave up after ${maxDeliver} deliveries` }
        : await this.#decide(job, channel, m);
    await this.#record(outcome); // throws if it cannot be written: nacked, redelivered
    await m.ack();
  }

  async #decide(job: ClaimedDelivery, channel: Channel, m: BrokerMessage): Promise<Outcome> {
    if (job.skipReason) return { id: job.id, kind: 'cancelled', error: job.skipReason };
    if (job.expiresAt && job.expiresAt.getTime() <= Date.now()) return { id: job.id, kind: 'expired', error: 'its time to live passed before it could be sent' };
    const ackWaitMs = (this.#o.ackWaitSeconds ?? 60) * 1000;
    // A send slower than AckWait keeps its message leased instead of having it redelivered.
    const keepAlive = setInterval(() => void m.extend(ackWaitMs).catch(() => undefined), Math.max(500, ackWaitMs / 2));
    let verdict: Verdict;
    try {
      verdict = await channel.send(job);
    } catch (err) {
      verdict = { status: 'retry', error: coerceError(err).message };
    } finally {
      clearInterval(keepAlive);
    }
    return outcomeOf(job, verdict, channel.maxAttempts);
  }

  #record(outcome: Outcome): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#buffer.push({ outcome, done: (err) => (err ? reject(err) : resolve()) });
      if (this.#buffer.length >= 250) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), 5);
    });
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const slice = this.#buffer;
    this.#buffer = [];
    if (slice.length === 0) return;
    recordOutcomes(this.#o.pool, slice.map((s) => s.outcome)).then(
      () => slice.forEach((s) => s.done()),
      (err: unknown) => {
        this.#o.log.warn({ err: coerceError(err) }, 'recording dispatch outcomes failed; the messages will be redelivered');
        slice.forEach((s) => s.done(err));
      },
    );
  }

  async stop(): Promise<void> {
    for (const s of this.#subscriptions.splice(0)) await s.close();
    this.#flush();
  }
}

/** The engine's verdict rules, for a delivery sent from a broker message. */
export { outcomeOf };
