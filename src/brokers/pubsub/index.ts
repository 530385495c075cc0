import { cachedPromise } from '../promise-cache.ts';
import { Duration, PubSub, type Message, type Subscription as PubSubSubscription, type Topic } from '@google-cloud/pubsub';
import type { Logger } from '../../log/index.ts';
import { coerceError } from '../../log/index.ts';
import { DEFAULTS, dispatchMessage, within } from '../handle.ts';
import { ConcurrencyGate } from '../gate.ts';
import {
  BrokerError,
  DEAD_LETTER_REASON,
  type Broker,
  type BrokerMessage,
  type DeadLetterTarget,
  type MessageHandler,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
} from '../../core/broker.ts';

export interface PubSubBrokerOptions {
  readonly projectId: string;
  readonly autoCreate: boolean;
  readonly log: Logger;
  /** host:port of the emulator; default the client's own rule (PUBSUB_EMULATOR_HOST). */
  readonly emulatorHost?: string;
}

/** gRPC status codes. */
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;

/**
 * How fast herald notices that Pub/Sub is back after an outage. The client's defaults suit a
 * batch job, not a relay: gRPC waits up to 120 s between reconnects, a publish retries inside
 * one call with delays growing ×4 up to 60 s (for 600 s), and a streaming pull backs off up to
 * 60 s — so a backlog would start to drain up to a minute after the broker returned. Here the
 * connection is retried every second at most, a publish retries at most a second apart and
 * gives up after 10 s (the relay keeps the event and tries again), and a pull stream is
 * reopened at most a second apart.
 */
const CHANNEL_OPTIONS = { 'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 1000 } as const;
const PUBLISH_RETRY = {
  // The publisher's own retry codes: CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE.
  retryCodes: [1, 2, 4, 8, 10, 13, 14],
  backoffSettings: {
    initialRetryDelayMillis: 100,
    retryDelayMultiplier: 2,
    maxRetryDelayMillis: 1000,
    initialRpcTimeoutMillis: 10_000,
    rpcTimeoutMultiplier: 1,
    maxRpcTimeoutMillis: 10_000,
    totalTimeoutMillis: 10_000,
  },
};
const STREAM_RETRY = { retryMinBackoff: Duration.from({ milliseconds: 100 }), retryMaxBackoff: Duration.from({ seconds: 1 }) };
/** Wait before reopening a subscriber that stopped on a non-retryable error (e.g. a deleted subscription). */
const REOPEN_DELAY_MS = 1000;

/**
 * Google Cloud Pub/Sub through the official client: streaming pull with flow control, the
 * client's lease manager keeping received messages' deadlines extended, ordering keys for
 * per-key order (the subscription has message ordering enabled).
 * https://cloud.google.com/pubsub/docs/ordering
 */
export class PubSubBroker implements Broker {
  readonly name = 'pubsub' as const;
  readonly #options: PubSubBrokerOptions;
  readonly #client: PubSub;
  readonly #topics = new Map<string, Promise<Topic>>();
  readonly #subscriptions = new Set<Subscription>();

  constructor(options: PubSubBrokerOptions) {
    this.#options = options;
    if ((options.emulatorHost || process.env.PUBSUB_EMULATOR_HOST) && !process.env.METADATA_SERVER_DETECTION) {
      // Against the emulator there are no credentials, and the Google auth library would probe
      // the GCE metadata server (169.254.169.254) for them; this is its documented off switch.
      // https://github.com/googleapis/gcp-metadata#environment-variables
      process.env.METADATA_SERVER_DETECTION = 'none';
    }
    this.#client = new PubSub({
      projectId: options.projectId,
      ...CHANNEL_OPTIONS,
      ...(options.emulatorHost ? { apiEndpoint: options.emulatorHost, emulatorMode: true } : {}),
    });
  }

  #topic(name: string): Promise<Topic> {
    return cachedPromise(this.#topics, name, () => this.#openTopic(name));
  }

  async #openTopic(name: string): Promise<Topic> {
    // messageOrdering: publishes with an ordering key go out in order, one batch at a time.
    const topic = this.#client.topic(name, { messageOrdering: true, batching: { maxMilliseconds: 5, maxMessages: 500 }, gaxOpts: { retry: PUBLISH_RETRY } });
    const [exists] = await topic.exists();
    if (!exists) {
      if (!this.#options.autoCreate) throw new BrokerError('not-found', `no Pub/Sub topic ${name} (auto-create is off)`);
      try {
        await topic.create();
      } catch (err) {
        if (grpcCode(err) !== ALREADY_EXISTS) throw err;
      }
    }
    return topic;
  }

  async ensureTopic(topic: string): Promise<void> {
    await this.#topic(topic);
  }

  async publish(topicName: string, body: Buffer | string, options: PublishOptions = {}): Promise<string> {
    const topic = await this.#topic(topicName);
    const attributes: Record<string, string> = { ...options.attributes };
    // Pub/Sub has no publish-side de-duplication; the id travels for consumers to use.
    if (options.dedupeId) attributes.dedupeId = options.dedupeId;
    try {
      return await topic.publishMessage({
        data: typeof body === 'string' ? Buffer.from(body) : body,
        attributes,
        ...(options.orderingKey ? { orderingKey: options.orderingKey } : {}),
      });
    } catch (err) {
      // A failed publish pauses its ordering key until resumed, so that later messages of the
      // key cannot overtake it; the caller retries in order, so resume now.
      if (options.orderingKey) topic.resumePublishing(options.orderingKey);
      // The topic went away (deleted, or an emulator restarted empty): look it up (and, with
      // auto-create, create it) again on the next publish instead of failing for ever.
      if (grpcCode(err) === NOT_FOUND) this.#topics.delete(topicName);
      throw err;
    }
  }

  deadLetterTarget(subscription: string): DeadLetterTarget {
    return { topic: `${subscription}-dlq`, subscription: `${subscription}-dlq` };
  }

  async #subscription(options: SubscribeOptions): Promise<PubSubSubscription> {
    const flowControl = { maxMessages: options.maxInFlight ?? DEFAULTS.maxInFlight, allowExcessMessages: false };
    const subscription = this.#client.subscription(options.subscription, {
      flowControl,
      closeOptions: { behavior: 'NACK' },
      streamingOptions: STREAM_RETRY,
    });
    const [exists] = await subscription.exists();
    if (exists) return subscription;
    if (!this.#options.autoCreate || !options.topic) {
      throw new BrokerError('not-found', `no Pub/Sub subscription ${options.subscription}${this.#options.autoCreate ? ' (no topic given to create it on)' : ' (auto-create is off)'}`);
    }
    const topic = await this.#topic(options.topic);
    try {
      await topic.createSubscription(options.subscription, {
        ackDeadlineSeconds: Math.max(10, options.ackDeadlineSeconds ?? DEFAULTS.ackDeadlineSeconds),
        enableMessageOrdering: true,
      });
    } catch (err) {
      if (grpcCode(err) !== ALREADY_EXISTS) throw err;
    }
    return subscription;
  }

  async subscribe(options: SubscribeOptions, handler: MessageHandler): Promise<Subscription> {
    const sub = await this.#subscription(options);
    const log = this.#options.log;
    const gate = new ConcurrencyGate(Number.MAX_SAFE_INTEGER); // flow control limits; this counts
    const delayed = new Set<NodeJS.Timeout>();
    const delivered = new Map<string, number>();
    sub.on('message', (m: Message) => {
      void gate.acquire().then(() =>
        dispatchMessage(this.#wrap(m, options.subscription, delayed, delivered), handler, options, log).finally(() => gate.release()),
      );
    });
    let closed = false;
    let reopenTimer: NodeJS.Timeout | undefined;
    const reopen = (): void => {
      reopenTimer = undefined;
      if (closed) return;
      // Put the subscription back (auto-create) if it is gone, then pull again; try again later on failure.
      this.#subscription(options)
        .then(() => {
          if (!closed && !sub.isOpen) sub.open();
        })
        .catch((err: unknown) => {
          log.warn({ err: coerceError(err), subscription: options.subscription }, 'cannot reopen the Pub/Sub subscription; trying again');
          if (!closed) reopenTimer = setTimeout(reopen, REOPEN_DELAY_MS);
        });
    };
    sub.on('error', (err: unknown) => {
      // The client reopens its streams itself after transient errors (UNAVAILABLE and the like);
      // an error reaches us when it gave up — e.g. the subscription was deleted (NOT_FOUND) —
      // and the subscriber then stops. A consumer must not stop for good: reopen it shortly.
      log.error({ err: coerceError(err), subscription: options.subscription }, 'Pub/Sub subscriber error; reopening');
      if (!closed && !reopenTimer) reopenTimer = setTimeout(reopen, REOPEN_DELAY_MS);
    });
    const subscription: Subscription = {
      close: async () => {
        closed = true;
        clearTimeout(reopenTimer);
        this.#subscriptions.delete(subscription);
        await within(gate.idle(), options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs);
        for (const t of delayed) clearTimeout(t);
        await sub.close().catch((err: unknown) => log.warn({ err: coerceError(err) }, 'Pub/Sub subscriber close failed'));
        sub.removeAllListeners();
      },
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  #wrap(m: Message, subscription: string, delayed: Set<NodeJS.Timeout>, delivered: Map<string, number>): BrokerMessage {
    // deliveryAttempt is only filled in when the subscription has a dead-letter policy (which
    // needs IAM grants on real projects); otherwise count redeliveries seen by this process.
    const seen = (delivered.get(m.id) ?? 0) + 1;
    delivered.set(m.id, seen);
    if (delivered.size > 10_000) delivered.delete(delivered.keys().next().value ?? '');
    const attempt = m.deliveryAttempt > 0 ? m.deliveryAttempt : seen;
    const forget = () => delivered.delete(m.id);
    return {
      id: m.id,
      body: m.data,
      attributes: { ...m.attributes },
      deliveryAttempt: attempt,
      publishedAt: new Date(m.publishTime.getTime()),
      ack: async () => {
        forget();
        m.ack();
      },
      nack: async (delayMs = 0) => {
        if (delayMs <= 0) return m.nack();
        // Pub/Sub cannot nack "later"; the message stays leased (the client keeps extending its
        // deadline) and is nacked when the delay is over. If this process dies meanwhile, the
        // lease runs out and Pub/Sub redelivers anyway.
        const timer = setTimeout(() => {
          delayed.delete(timer);
          m.nack();
        }, delayMs);
        delayed.add(timer);
      },
      extend: async (ms: number) => m.modAck(Math.min(600, Math.max(10, Math.ceil(ms / 1000)))),
      deadLetter: async (reason: string) => {
        const target = this.deadLetterTarget(subscription);
        await this.#ensureDeadLetter(target);
        await this.publish(target.topic ?? '', m.data, {
          attributes: { ...m.attributes, [DEAD_LETTER_REASON]: reason, originalId: m.id },
        });
        forget();
        m.ack();
      },
    };
  }

  /** The DLQ topic needs a subscription, or Pub/Sub keeps nothing published to it. */
  async #ensureDeadLetter(target: DeadLetterTarget): Promise<void> {
    const topic = await this.#topic(target.topic ?? target.subscription);
    const [exists] = await this.#client.subscription(target.subscription).exists();
    if (exists) return;
    try {
      await topic.createSubscription(target.subscription, { ackDeadlineSeconds: 60 });
    } catch (err) {
      if (grpcCode(err) !== ALREADY_EXISTS) throw err;
    }
  }

  async close(): Promise<void> {
    for (const s of [...this.#subscriptions]) await s.close();
    for (const topic of this.#topics.values()) await topic.then((t) => t.flush()).catch(() => undefined);
    await this.#client.close();
  }
}

function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
