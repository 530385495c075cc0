import { Counter, type Registry } from 'prom-client';
import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { WakeLoop, type Next } from '../db/wake-loop.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import type { Broker } from '../brokers/index.ts';
import { claimEvents, markPublished, type OutboxEvent } from './repository.ts';

import { EVENTS_CHANNEL } from '../db/wakeup.ts';
export { EVENTS_CHANNEL };

export interface RelayOptions {
  readonly pool: Pool;
  readonly broker: Broker;
  readonly topic: string;
  readonly log: Logger;
  readonly metrics?: Registry;
  /** Events claimed per round. Default 500. */
  readonly batchSize?: number;
  /** Safety-net poll when no NOTIFY arrives. Default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** Users published concurrently (each user's events stay sequential). Default 64. */
  readonly concurrency?: number;
  /**
   * Longest wait between tries while the broker is down. Default 1 s: a try then costs one
   * claim and one publish (see #publishAll), and the backlog starts to drain within about a
   * second of the broker's return rather than after a long backoff.
   */
  readonly maxBackoffMs?: number;
}

/** While the broker stays down, say so again this often (the first failure is logged at once). */
const OUTAGE_LOG_INTERVAL_MS = 30_000;

/** The message a subscriber of the events topic receives (the API's event shape plus userId). */
export function eventMessage(e: OutboxEvent): { body: string; attributes: Record<string, string> } {
  return {
    body: JSON.stringify({
      id: e.id,
      type: e.type,
      itemType: e.itemType,
      itemId: e.itemId,
      userId: e.userId,
      data: e.data,
      createdAt: e.createdAt.toISOString(),
    }),
    // The old NestJS system's attribute names, so its subscribers' filter policies keep working.
    attributes: { eventType: e.type, eventItemType: e.itemType, userId: e.userId ?? '' },
  };
}

/**
 * The transactional-outbox relay: claims unpublished rows of `events`, publishes each to the
 * events topic (at least once; the event id is the dedupe id), and marks them published in the
 * same transaction that claimed them. Wakes on NOTIFY herald_events and on a timer. While the
 * broker is down the rows simply stay unpublished and the relay probes it about once a second
 * with a single publish; nothing is skipped, because a user's later events are never published
 * before an earlier one that failed.
 */
export class EventRelay {
  readonly #o: Required<Omit<RelayOptions, 'metrics'>>;
  readonly #loop: WakeLoop;
  readonly #published: Counter | undefined;
  readonly #failed: Counter | undefined;
  #failures = 0;
  /** When publishing started failing, and when that was last logged. */
  #downSince: number | undefined;
  #loggedAt = 0;

  constructor(options: RelayOptions) {
    this.#o = { batchSize: 500, pollIntervalMs: 1000, concurrency: 64, maxBackoffMs: 1000, ...options };
    this.#loop = new WakeLoop({
      pool: options.pool,
      log: options.log,
      channel: EVENTS_CHANNEL,
      maxSleepMs: Math.max(this.#o.pollIntervalMs, this.#o.maxBackoffMs),
      errorMessage: 'event relay round failed; retrying',
      round: () => this.#round(),
    });
    if (options.metrics) {
      this.#published = new Counter({ name: 'herald_relay_events_published_total', help: 'Outbox events published to the events topic', registers: [options.metrics] });
      this.#failed = new Counter({ name: 'herald_relay_publish_failures_total', help: 'Failed publishes of outbox events (retried)', registers: [options.metrics] });
    }
  }

  start(): Promise<void> {
    return this.#loop.start();
  }

  /** Run a round now (NOTIFY, tests). While backing off, only the timer wakes: NOTIFY must not hammer a broker that is down. */
  poke(): void {
    this.#loop.poke();
  }

  async #round(): Promise<Next> {
    let full = false;
    try {
      const result = await this.runOnce();
      full = result.claimed >= this.#o.batchSize && result.failed === 0;
      if (result.failed > 0) this.#failures++;
      else this.#recovered();
    } catch (err) {
      this.#failures++;
      this.#o.log.warn({ err: coerceError(err) }, 'event relay round failed; retrying');
    }
    if (this.#failures > 0) return { until: Date.now() + Math.min(this.#o.maxBackoffMs, 250 * 2 ** Math.min(this.#failures, 10)), deaf: true };
    if (full) return 'again';
    return { until: Date.now() + this.#o.pollIntervalMs };
  }

  /** One claim–publish–mark round. Returns how many were claimed, published and failed. */
  async runOnce(): Promise<{ claimed: number; published: number; failed: number }> {
    return withTransaction(this.#o.pool, async (client) => {
      const events = await claimEvents(client, this.#o.batchSize);
      if (events.length === 0) return { claimed: 0, published: 0, failed: 0 };
      const done = await this.#publishAll(events);
      await markPublished(client, done);
      this.#published?.inc(done.length);
      const failed = events.length - done.length;
      if (failed > 0) this.#failed?.inc(failed);
      return { claimed: events.length, published: done.length, failed };
    });
  }

  #recovered(): void {
    if (this.#downSince !== undefined) {
      this.#o.log.info({ topic: this.#o.topic, outageMs: Date.now() - this.#downSince }, 'publishing events again; the outbox backlog drains');
    }
    this.#failures = 0;
    this.#downSince = undefined;
    this.#loggedAt = 0;
  }

  /** The first failure of an outage is logged, then one line every OUTAGE_LOG_INTERVAL_MS. */
  #publishFailed(err: unknown): void {
    const now = Date.now();
    this.#downSince ??= now;
    if (now - this.#loggedAt < OUTAGE_LOG_INTERVAL_MS) return;
    this.#loggedAt = now;
    this.#o.log.warn({ err: coerceError(err), topic: this.#o.topic, downForMs: now - this.#downSince }, 'publishing events failed; they stay in the outbox');
  }

  /**
   * Publish users concurrently, each user's events in order, stopping a user at its first
   * failure. After a failed round the broker is probed first with one event: while it is down a
   * round costs one failed publish, not one per user.
   */
  async #publishAll(events: readonly OutboxEvent[]): Promise<string[]> {
    const byUser = new Map<string, OutboxEvent[]>();
    for (const e of events) {
      const key = e.userId ?? `\u0000${e.id}`; // events without a user have no order to keep
      const list = byUser.get(key);
      if (list) list.push(e);
      else byUser.set(key, [e]);
    }
    const done: string[] = [];
    const queues = [...byUser.values()];
    const publish = async (e: OutboxEvent): Promise<boolean> => {
      const { body, attributes } = eventMessage(e);
      try {
        await this.#o.broker.publish(this.#o.topic, body, {
          attributes,
          dedupeId: e.id,
          ...(e.userId ? { orderingKey: e.userId } : {}),
        });
        done.push(e.id);
        return true;
      } catch (err) {
        this.#publishFailed(err);
        return false;
      }
    };
    if (this.#failures > 0) {
      const first = queues[0]!;
      if (!(await publish(first[0]!))) return done;
      first.shift();
    }
    const worker = async () => {
      for (let list = queues.shift(); list; list = queues.shift()) {
        for (const e of list) if (!(await publish(e))) break;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, queues.length) }, worker));
    return done;
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }
}
