import { Counter, type Registry } from 'prom-client';
import type { IngestSource } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import { HeraldError } from '../errors/index.ts';
import type { Broker, BrokerMessage, Subscription } from '../brokers/index.ts';
import type { NotificationCreator, NotificationInput } from '../notifications/types.ts';
import { parseNotificationInput } from '../notifications/service.ts';

export interface IngestOptions {
  readonly broker: Broker;
  readonly source: IngestSource;
  /** Topic the subscription consumes (created with it when missing). */
  readonly topic: string | undefined;
  readonly subscription: string;
  readonly creator: NotificationCreator;
  readonly log: Logger;
  readonly metrics?: Registry;
  readonly maxInFlight?: number;
  readonly maxDeliveries?: number;
}

export type IngestOutcome = 'created' | 'duplicate' | 'dead-lettered';

/**
 * Broker ingest: each message body is a `POST /v1/notifications` body. It is validated by the
 * API's own schema, created with the message id as dedupe key (a redelivered message — say the
 * consumer died after the commit but before the ack — creates nothing new), then acked. A
 * message that can never succeed (not JSON, fails validation, breaks a rule) goes to the
 * subscription's dead-letter destination with the reason; a failure that may pass (database
 * down) is nacked and retried.
 */
export class NotificationIngest {
  readonly #o: IngestOptions;
  readonly #outcomes: Counter<'source' | 'outcome'> | undefined;
  #subscription: Subscription | undefined;

  constructor(options: IngestOptions) {
    this.#o = options;
    if (options.metrics) {
      this.#outcomes = new Counter({
        name: 'herald_ingest_messages_total',
        help: 'Broker messages ingested as notifications, by outcome',
        labelNames: ['source', 'outcome'],
        registers: [options.metrics],
      });
    }
  }

  async start(): Promise<void> {
    this.#subscription = await this.#o.broker.subscribe(
      {
        ...(this.#o.topic ? { topic: this.#o.topic } : {}),
        subscription: this.#o.subscription,
        ...(this.#o.maxInFlight ? { maxInFlight: this.#o.maxInFlight } : {}),
        ...(this.#o.maxDeliveries ? { maxDeliveries: this.#o.maxDeliveries } : {}),
        retryDelayMs: 2000,
      },
      (m) => this.handle(m).then(() => undefined),
    );
  }

  /** Handle one message (exposed for tests and other transports). */
  async handle(message: BrokerMessage): Promise<IngestOutcome> {
    const reject = async (reason: string): Promise<IngestOutcome> => {
      this.#o.log.warn({ messageId: message.id, reason }, 'ingested message dead-lettered');
      await message.deadLetter(reason);
      this.#outcomes?.inc({ source: this.#o.source, outcome: 'dead-lettered' });
      return 'dead-lettered';
    };
    let raw: unknown;
    try {
      raw = JSON.parse(message.body.toString('utf8'));
    } catch (err) {
      return reject(`MALFORMED_JSON: ${(err as Error).message}`);
    }
    let input: NotificationInput;
    try {
      input = parseNotificationInput(raw);
    } catch (err) {
      if (err instanceof HeraldError) return reject(`${err.code}: ${err.message}`);
      throw err;
    }
    try {
      const created = await this.#o.creator.create(input, {
        source: `ingest:${this.#o.source}`,
        dedupeKey: `${this.#o.source}:${message.id}`,
      });
      await message.ack();
      const outcome = created.created ? 'created' : 'duplicate';
      this.#outcomes?.inc({ source: this.#o.source, outcome });
      return outcome;
    } catch (err) {
      // A rule the API would answer 4xx for: retrying cannot help. Anything else (database
      // unavailable, ...) is thrown, and the message is nacked and comes back.
      if (err instanceof HeraldError && err.status < 500) return reject(`${err.code}: ${err.message}`);
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.#subscription?.close();
    this.#subscription = undefined;
  }
}
