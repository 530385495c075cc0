import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import type { Health } from '../health/index.ts';
import type { NotificationCreator } from '../notifications/types.ts';
import { HeraldError } from '../errors/index.ts';
import { decide } from './message.ts';

/**
 * Pulls the old APNs worker's subscription and turns each message into a notification through the engine
 * (so it gets retries, expiry and status). A message is acked only after `create` resolved,
 * i.e. the notification and its delivery are durably recorded; if herald dies before that,
 * Pub/Sub redelivers and the message id keeps it one notification.
 */

export interface ApnsIngestOptions {
  readonly projectId: string;
  readonly topic: string;
  readonly subscription: string;
  readonly maxAgeSeconds: number;
  readonly autoCreate: boolean;
  /** host:port of the Pub/Sub emulator; default the client's rule (PUBSUB_EMULATOR_HOST). */
  readonly emulatorHost?: string | undefined;
  /** Messages held at once (flow control). */
  readonly maxMessages?: number | undefined;
  /** How long a subscription-exists answer is reused by /healthz. */
  readonly healthCacheMs?: number | undefined;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly health: Health;
  readonly notifications: NotificationCreator;
}

/** gRPC status codes the client reports. */
const ALREADY_EXISTS = 6;
const NOT_FOUND = 5;
/** The old APNs worker used a one-minute ack deadline; the client extends it while a message is handled. */
const ACK_DEADLINE_SECONDS = 60;

export const HEALTH_CHECK = 'ingest-apns';

export class ApnsIngest {
  readonly #options: ApnsIngestOptions;
  readonly #client: PubSub;
  readonly #messages: Counter<'outcome'>;
  readonly #inFlight = new Set<Promise<void>>();
  #subscription: Subscription | undefined;
  #missing = false;
  #checkedAt = 0;
  #stopping = false;

  constructor(options: ApnsIngestOptions) {
    this.#options = options;
    this.#client = new PubSub({
      projectId: options.projectId,
      ...(options.emulatorHost ? { apiEndpoint: options.emulatorHost, emulatorMode: true } : {}),
    });
    this.#messages = new Counter({
      name: 'herald_ingest_apns_messages_total',
      help: 'Pub/Sub messages of the APNs ingest by outcome (created, duplicate, expired, invalid, failed)',
      labelNames: ['outcome'],
      registers: [options.metrics],
    });
  }

  async start(): Promise<void> {
    const { topic: topicName, subscription: name, autoCreate } = this.#options;
    if (autoCreate) {
      const topic = this.#client.topic(topicName);
      if (!(await topic.exists())[0]) await ignoreExists(topic.create());
      const sub = topic.subscription(name);
      if (!(await sub.exists())[0]) await ignoreExists(sub.create({ ackDeadlineSeconds: ACK_DEADLINE_SECONDS }));
    }
    const subscription = this.#client.subscription(name, {
      flowControl: { maxMessages: this.#options.maxMessages ?? 1000, allowExcessMessages: false },
    });
    subscription.on('message', (message: Message) => this.#track(this.#handle(message)));
    subscription.on('error', (err: unknown) => {
      const error = coerceError(err);
      if ((error as { code?: number }).code === NOT_FOUND) this.#missing = true;
      this.#options.log.error({ err: error, subscription: name }, 'Pub/Sub subscription error');
    });
    this.#subscription = subscription;
    // The old APNs worker's liveness probe: /healthz fails once the subscription is gone, so the
    // orchestrator restarts herald, which creates it again.
    this.#options.health.addCheck(HEALTH_CHECK, () => this.#check());
    this.#options.log.info({ topic: topicName, subscription: name }, 'APNs ingest pulling Pub/Sub');
  }

  async stop(): Promise<void> {
    this.#options.health.removeCheck(HEALTH_CHECK);
    const subscription = this.#subscription;
    this.#subscription = undefined;
    if (subscription) {
      // Messages being handled finish and are acked before the stream closes (removing the
      // 'message' listener would close it at once and lose those acks); new ones go back.
      this.#stopping = true;
      await Promise.allSettled([...this.#inFlight]);
      await subscription.close().catch(() => undefined);
      subscription.removeAllListeners();
    }
    await this.#client.close().catch(() => undefined);
  }

  #track(work: Promise<void>): void {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  async #handle(message: Message): Promise<void> {
    const log = this.#options.log;
    if (this.#stopping) return message.nack();
    try {
      const decision = decide(
        { id: message.id, data: message.data, attributes: message.attributes ?? {}, publishTime: message.publishTime },
        this.#options.maxAgeSeconds,
      );
      if (decision.kind === 'drop') {
        log.warn({ messageId: message.id, reason: decision.reason }, 'APNs ingest dropped a message');
        this.#messages.inc({ outcome: decision.outcome });
        message.ack();
        return;
      }
      const created = await this.#options.notifications.create(decision.input, decision.options);
      message.ack();
      this.#messages.inc({ outcome: created.created ? 'created' : 'duplicate' });
    } catch (err) {
      if (err instanceof HeraldError && err.status < 500) {
        // The engine refused the message itself (e.g. a malformed token): redelivery cannot help.
        log.warn({ messageId: message.id, code: err.code, reason: err.message }, 'APNs ingest dropped an invalid message');
        this.#messages.inc({ outcome: 'invalid' });
        message.ack();
        return;
      }
      log.error({ err: coerceError(err), messageId: message.id }, 'APNs ingest could not record a message; Pub/Sub will redeliver it');
      this.#messages.inc({ outcome: 'failed' });
      message.nack();
    }
  }

  async #check(): Promise<string | undefined> {
    const cacheMs = this.#options.healthCacheMs ?? 5000;
    if (!this.#missing && Date.now() - this.#checkedAt > cacheMs) {
      this.#checkedAt = Date.now();
      try {
        const [exists] = await this.#client.subscription(this.#options.subscription).exists();
        this.#missing = !exists;
      } catch (err) {
        // Pub/Sub unreachable says nothing about the subscription; the client reconnects.
        this.#options.log.warn({ err: coerceError(err) }, 'could not check the Pub/Sub subscription');
      }
    }
    return this.#missing ? `Pub/Sub subscription ${this.#options.subscription} no longer exists` : undefined;
  }
}

async function ignoreExists(create: Promise<unknown>): Promise<void> {
  try {
    await create;
  } catch (err) {
    if ((err as { code?: number }).code !== ALREADY_EXISTS) throw err;
  }
}
