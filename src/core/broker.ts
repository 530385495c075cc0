/**
 * One interface over the three brokers herald speaks (Google Pub/Sub, SNS→SQS, NATS JetStream).
 * The relay, ingest and broker dispatch are written against it; a contract suite
 * (test/brokers.contract.test.ts) runs every adapter against its real engine or emulator.
 *
 * Vocabulary: a *topic* is where messages are published (Pub/Sub topic, SNS topic, JetStream
 * subject); a *subscription* is a durable cursor that consumes it (Pub/Sub subscription, SQS
 * queue subscribed to the topic, JetStream durable consumer). Both are created when missing
 * unless `autoCreate` is false (locked-down accounts), in which case a missing one is a
 * `BrokerError` with code `not-found`.
 */
import type { BrokerName } from '../config/index.ts';

export type { BrokerName };

export interface PublishOptions {
  /** String attributes (Pub/Sub attributes, SNS message attributes, NATS headers). */
  readonly attributes?: Readonly<Record<string, string>>;
  /**
   * Identity of the message for de-duplication. JetStream drops a repeat inside its duplicate
   * window (`Nats-Msg-Id`); SNS FIFO topics use it as `MessageDeduplicationId`. Everywhere it
   * is also sent as the `dedupeId` attribute so consumers can drop repeats themselves.
   */
  readonly dedupeId?: string;
  /**
   * Messages with the same key are delivered in publish order where the broker can (Pub/Sub
   * ordering keys, SNS FIFO message groups; a JetStream stream is ordered anyway).
   */
  readonly orderingKey?: string;
}

export interface BrokerMessage {
  /** The broker's message id (Pub/Sub message id, SQS MessageId, JetStream `<stream>:<sequence>`); the same on every redelivery. */
  readonly id: string;
  readonly body: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  /** 1 on the first delivery. */
  readonly deliveryAttempt: number;
  readonly publishedAt: Date;
  /** Done: never delivered again. */
  ack(): Promise<void>;
  /** Deliver again, not sooner than `delayMs` from now (0: as soon as the broker can). */
  nack(delayMs?: number): Promise<void>;
  /** Keep the message leased to this consumer for `ms` more (lease / visibility / AckWait). */
  extend(ms: number): Promise<void>;
  /** Move the message to the subscription's dead-letter destination with a reason, then ack. */
  deadLetter(reason: string): Promise<void>;
}

export interface SubscribeOptions {
  /** Topic the subscription consumes; may be omitted for an existing SQS queue. */
  readonly topic?: string;
  readonly subscription: string;
  /** Messages handled concurrently. Default 32. */
  readonly maxInFlight?: number;
  /** Lease on a delivered message before the broker redelivers it. Default 30 s. */
  readonly ackDeadlineSeconds?: number;
  /**
   * After this many deliveries a message goes to the dead-letter destination instead of the
   * handler (reason `max deliveries (N) exceeded`). Default 10.
   */
  readonly maxDeliveries?: number;
  /** Default delay of a nack when the handler throws. Default 1000 ms. */
  readonly retryDelayMs?: number;
  /**
   * How long close() waits for running handlers. Past it they are abandoned and their
   * messages come back when the broker's lease runs out (at least once). Default 10 s.
   */
  readonly drainTimeoutMs?: number;
  /**
   * Redelivery delays after lease timeouts, one per delivery (JetStream consumer `BackOff`; the
   * other engines redeliver after their lease).
   */
  readonly backoffMs?: readonly number[];
}

/**
 * Called for every message. Settle it with ack/nack/deadLetter; a handler that throws (or
 * returns without settling) has its message nacked with the subscription's retry delay.
 */
export type MessageHandler = (message: BrokerMessage) => Promise<void>;

export interface Subscription {
  /** Stop receiving; messages not yet settled are redelivered later by the broker. */
  close(): Promise<void>;
}

/** Where a subscription's dead letters can be read back (by an operator or a test). */
export interface DeadLetterTarget {
  readonly topic?: string;
  readonly subscription: string;
}

export interface Broker {
  readonly name: BrokerName;
  /** Create the topic unless it exists (or fail with `not-found` when auto-create is off). */
  ensureTopic(topic: string): Promise<void>;
  /** Publish; resolves with the broker's message id once the broker has accepted it. */
  publish(topic: string, body: Buffer | string, options?: PublishOptions): Promise<string>;
  subscribe(options: SubscribeOptions, handler: MessageHandler): Promise<Subscription>;
  deadLetterTarget(subscription: string): DeadLetterTarget;
  /** Close connections; open subscriptions are closed first. */
  close(): Promise<void>;
}

export type BrokerErrorCode = 'not-found' | 'unavailable' | 'invalid';

export class BrokerError extends Error {
  readonly code: BrokerErrorCode;
  constructor(code: BrokerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BrokerError';
    this.code = code;
  }
}

/** The reason attribute a dead-lettered message carries. */
export const DEAD_LETTER_REASON = 'deadLetterReason';
