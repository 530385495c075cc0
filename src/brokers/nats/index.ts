import { cachedPromise } from '../promise-cache.ts';
import { connect, headers as natsHeaders, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
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
} from '../types.ts';

export interface NatsBrokerOptions {
  readonly url: string;
  readonly autoCreate: boolean;
  readonly log: Logger;
  /** JetStream duplicate window for `Nats-Msg-Id` de-duplication. Default 2 min (the server's). */
  readonly duplicateWindowMs?: number;
  /** Per-publish timeout. Default 5 s. */
  readonly publishTimeoutMs?: number;
}

/** Stream and consumer names may not contain `.`, `*`, `>` or whitespace (NATS's naming rules, ADR-6 of nats-io/nats-architecture-and-design). */
export function natsName(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, '_');
}

const DLQ_PREFIX = 'herald-dlq';

/**
 * NATS JetStream: a topic is a subject captured by a stream (an existing stream that covers the
 * subject is used as is; otherwise one named after the subject is created), a subscription is
 * a durable pull consumer with explicit acks. Publishing sets `Nats-Msg-Id` so the stream drops
 * repeats inside its duplicate window:
 * https://docs.nats.io/using-nats/developer/develop_jetstream/model_deep_dive#message-deduplication
 */
export class NatsBroker implements Broker {
  readonly name = 'nats' as const;
  readonly #options: NatsBrokerOptions;
  #nc: Promise<NatsConnection> | undefined;
  #js: JetStreamClient | undefined;
  #jsm: JetStreamManager | undefined;
  readonly #streams = new Map<string, Promise<string>>();
  readonly #subscriptions = new Set<Subscription>();
  /** False between a 'disconnect' and the next 'reconnect' of the connection. */
  #connected = true;

  constructor(options: NatsBrokerOptions) {
    this.#options = options;
  }

  async #connection(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> {
    this.#nc ??= connect({
      servers: this.#options.url,
      name: 'herald',
      // Keep trying for ever: a broker outage must leave a backlog, not a dead process.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    }).catch((err: unknown) => {
      this.#nc = undefined;
      throw new BrokerError('unavailable', `cannot connect to NATS at ${this.#options.url}`, { cause: err });
    });
    const nc = await this.#nc;
    if (!this.#js) this.#watch(nc);
    this.#js ??= jetstream(nc, { timeout: this.#options.publishTimeoutMs ?? 5000 });
    this.#jsm ??= await jetstreamManager(nc, { timeout: this.#options.publishTimeoutMs ?? 5000 });
    return { nc, js: this.#js, jsm: this.#jsm };
  }

  /**
   * Follow the connection's state. The client reconnects by itself (every 500 ms while the server
   * is away), but a publish made meanwhile waits for its whole timeout and its acknowledgement
   * can be lost in the reconnect; failing it at once lets the caller (the relay) try again the
   * moment the connection is back.
   */
  #watch(nc: NatsConnection): void {
    this.#connected = true;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.#connected = false;
        else if (s.type === 'reconnect') this.#connected = true;
      }
    })().catch(() => undefined);
  }

  /** The stream that captures `subject`, created when missing. */
  #stream(subject: string): Promise<string> {
    return cachedPromise(this.#streams, subject, () => this.#findOrCreateStream(subject));
  }

  async #findOrCreateStream(subject: string): Promise<string> {
    const { jsm } = await this.#connection();
    try {
      return await jsm.streams.find(subject);
    } catch (err) {
      if (!isNotFound(err) && !(err instanceof Error && /no stream matches subject/i.test(err.message))) throw err;
    }
    if (!this.#options.autoCreate) throw new BrokerError('not-found', `no JetStream stream captures subject ${subject} (auto-create is off)`);
    const name = natsName(subject);
    try {
      await jsm.streams.add({
        name,
        subjects: [subject],
        duplicate_window: nanos(this.#options.duplicateWindowMs ?? 120_000),
      });
    } catch (err) {
      // Another process created it first: fine.
      if (!(err instanceof JetStreamApiError && err.code === 10058)) throw err;
    }
    return name;
  }

  async ensureTopic(topic: string): Promise<void> {
    await this.#stream(topic);
  }

  async publish(topic: string, body: Buffer | string, options: PublishOptions = {}): Promise<string> {
    const stream = this.#stream(topic);
    const { js } = await this.#connection();
    if (!this.#connected) throw new BrokerError('unavailable', `NATS at ${this.#options.url} is unreachable (reconnecting)`);
    await stream;
    const h = natsHeaders();
    for (const [k, v] of Object.entries(options.attributes ?? {})) h.set(k, v);
    if (options.dedupeId) h.set('dedupeId', options.dedupeId);
    const ack = await js.publish(topic, typeof body === 'string' ? Buffer.from(body) : body, {
      headers: h,
      ...(options.dedupeId ? { msgID: options.dedupeId } : {}),
    });
    return `${ack.stream}:${ack.seq}`;
  }

  deadLetterTarget(subscription: string): DeadLetterTarget {
    return { topic: `${DLQ_PREFIX}.${natsName(subscription)}`, subscription: `${natsName(subscription)}-dlq` };
  }

  async subscribe(options: SubscribeOptions, handler: MessageHandler): Promise<Subscription> {
    if (!options.topic) throw new BrokerError('invalid', 'a JetStream subscription needs a topic (subject)');
    const topic = options.topic;
    const stream = await this.#stream(topic);
    const { js, jsm } = await this.#connection();
    const durable = natsName(options.subscription);
    const maxDeliveries = options.maxDeliveries ?? DEFAULTS.maxDeliveries;
    const maxInFlight = options.maxInFlight ?? DEFAULTS.maxInFlight;
    try {
      await jsm.consumers.info(stream, durable);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (!this.#options.autoCreate) throw new BrokerError('not-found', `no JetStream consumer ${durable} on stream ${stream} (auto-create is off)`);
      await jsm.consumers.add(stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos((options.ackDeadlineSeconds ?? DEFAULTS.ackDeadlineSeconds) * 1000),
        // One more than the handler limit: the extra delivery is the one that dead-letters.
        max_deliver: maxDeliveries + 1,
        filter_subject: topic,
        max_ack_pending: Math.max(1000, maxInFlight * 4),
        // BackOff must be shorter than MaxDeliver; it replaces AckWait for redeliveries.
        ...(options.backoffMs && options.backoffMs.length > 0
          ? { backoff: options.backoffMs.slice(0, maxDeliveries).map((ms) => nanos(ms)) }
          : {}),
      });
    }
    const consumer = await js.consumers.get(stream, durable);
    const messages = await consumer.consume({ max_messages: maxInFlight });
    const gate = new ConcurrencyGate(maxInFlight);
    const log = this.#options.log;
    const loop = (async () => {
      try {
        for await (const m of messages) {
          await gate.acquire();
          void dispatchMessage(this.#wrap(m, options.subscription), handler, options, log).finally(() => gate.release());
        }
      } catch (err) {
        log.error({ err: coerceError(err), subscription: durable }, 'JetStream consumer stopped');
      }
    })();
    const subscription: Subscription = {
      close: async () => {
        this.#subscriptions.delete(subscription);
        await messages.close().catch(() => undefined);
        // A loop waiting for a free slot ends when the handlers do, or is abandoned with them.
        await within(Promise.all([loop, gate.idle()]), options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs);
      },
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  #wrap(m: JsMsg, subscription: string): BrokerMessage {
    const attributes: Record<string, string> = {};
    for (const key of m.headers?.keys() ?? []) {
      if (key === 'Nats-Msg-Id') continue;
      attributes[key] = m.headers?.get(key) ?? '';
    }
    const body = Buffer.from(m.data);
    return {
      // Stream and sequence: unique for the stream's life, stable across redeliveries.
      id: `${m.info.stream}:${m.seq}`,
      body,
      attributes,
      deliveryAttempt: m.info.deliveryCount,
      publishedAt: new Date(Math.floor(m.info.timestampNanos / 1e6)),
      ack: async () => {
        // ackAck waits for the server's confirmation, so "acked" means the server knows.
        await m.ackAck();
      },
      nack: async (delayMs = 0) => m.nak(delayMs > 0 ? delayMs : undefined),
      // JetStream's "working" resets the AckWait timer to its full length; it cannot be sized.
      extend: async () => m.working(),
      deadLetter: async (reason: string) => {
        const target = this.deadLetterTarget(subscription);
        await this.publish(target.topic ?? '', body, {
          attributes: { ...attributes, [DEAD_LETTER_REASON]: reason, originalSubject: m.subject, originalId: String(m.seq) },
          dedupeId: `${m.info.stream}:${m.seq}`,
        });
        m.term(reason);
      },
    };
  }

  async close(): Promise<void> {
    for (const s of [...this.#subscriptions]) await s.close();
    const pending = this.#nc;
    this.#nc = undefined;
    this.#js = undefined;
    this.#jsm = undefined;
    this.#streams.clear();
    if (pending) {
      const nc = await pending.catch(() => undefined);
      await nc?.drain().catch(() => nc.close());
    }
  }
}

function isNotFound(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound)
  );
}
