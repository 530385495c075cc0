import type { Pool, PoolClient, Queryable } from './pool.ts';
import { withTransaction } from './pool.ts';
import type { Wakeups } from '../core/hooks.ts';

/**
 * Workers LISTEN on this channel; whoever makes deliveries due (API, scheduler, retries) sends
 * the earliest due time as epoch milliseconds. NOTIFY inside a transaction is delivered at
 * commit, so a worker never wakes for rows it cannot see yet.
 */
export const DELIVERIES_CHANNEL = 'herald_deliveries';
export const REMINDERS_CHANNEL = 'herald_reminders';
export const INBOX_CHANNEL = 'herald_inbox';
/** Broadcasts waiting for fan-out (src/scheduler/fan-out.ts); payload: start time, epoch ms. */
export const BROADCASTS_CHANNEL = 'herald_broadcasts';
/** Digests opened (src/scheduler/digests.ts); payload: the earliest close time, epoch ms. */
export const DIGESTS_CHANNEL = 'herald_digests';

export async function notifyDeliveriesDue(db: Queryable, at: Date): Promise<void> {
  await db.query(`SELECT pg_notify($1, $2)`, [DELIVERIES_CHANNEL, String(at.getTime())]);
}

export async function notifyDigestsDue(db: Queryable, at: Date): Promise<void> {
  await db.query(`SELECT pg_notify($1, $2)`, [DIGESTS_CHANNEL, String(at.getTime())]);
}

export async function notifyRemindersDue(db: Queryable, at: Date): Promise<void> {
  await db.query(`SELECT pg_notify($1, $2)`, [REMINDERS_CHANNEL, String(at.getTime())]);
}

/** The event relay's channel (migration 0050's trigger NOTIFYs it whenever rows are added to the events table). */
export const EVENTS_CHANNEL = 'herald_events';

/**
 * NOTIFY after commit, coalesced per process. A NOTIFY inside a writer's transaction holds
 * PostgreSQL's global notify lock through that transaction's commit flush, so concurrent writers
 * that notify commit one at a time (no group commit): on the API's hot path that cost about
 * two thirds of the write rate. Writers that use this commit without notifying, then ask here;
 * the requests that arrive while one NOTIFY is under way go out together in the next, in one
 * short statement. Losing one (a crash right after commit) only delays work until the workers'
 * and the relay's timers, which read due times from the tables.
 */
export class WakeupCoalescer {
  readonly #db: Queryable;
  #dueNow = new Set<string>();
  #later = new Map<string, Set<string>>();
  #running = false;
  constructor(db: Queryable) {
    this.#db = db;
  }

  /** Deliveries come due at `at` (a time now or past wakes workers at once). */
  deliveriesDue(at: Date): void {
    if (at.getTime() <= Date.now() + 1) this.#request(DELIVERIES_CHANNEL, String(Date.now()));
    else this.#request(DELIVERIES_CHANNEL, String(at.getTime()));
  }

  /** New rows in the events outbox. */
  eventsAdded(): void {
    this.#request(EVENTS_CHANNEL, '');
  }

  /** Any channel, with a due time as its payload (reminders, digests, broadcasts). */
  due(channel: string, at: Date): void {
    if (channel === DELIVERIES_CHANNEL) this.deliveriesDue(at);
    else this.#request(channel, String(at.getTime()));
  }

  #request(channel: string, payload: string): void {
    if (channel === DELIVERIES_CHANNEL && Number(payload) <= Date.now() + 1) this.#dueNow.add(channel);
    else {
      const set = this.#later.get(channel) ?? new Set<string>();
      set.add(payload);
      this.#later.set(channel, set);
    }
    if (!this.#running) {
      this.#running = true;
      setImmediate(() => void this.#flush());
    }
  }

  async #flush(): Promise<void> {
    while (this.#dueNow.size > 0 || this.#later.size > 0) {
      const channels: string[] = [];
      const payloads: string[] = [];
      const now = String(Date.now());
      for (const c of this.#dueNow) {
        channels.push(c);
        payloads.push(now);
      }
      for (const [c, set] of this.#later) {
        for (const p of set) {
          channels.push(c);
          payloads.push(p);
        }
      }
      this.#dueNow = new Set();
      this.#later = new Map();
      try {
        await this.#db.query(`SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS x(c, p)`, [channels, payloads]);
      } catch {
        // The timers are the safety net (see above).
      }
    }
    this.#running = false;
  }
}

export async function notifyBroadcastsDue(db: Queryable, at: Date): Promise<void> {
  await db.query(`SELECT pg_notify($1, $2)`, [BROADCASTS_CHANNEL, String(at.getTime())]);
}

/**
 * Wake-ups collected while a transaction runs, to be sent after it commits (`send`), or inside
 * it by a writer that keeps the old way (`notifyNow`). Each channel's due times, as NOTIFY
 * payloads.
 */
export class AfterCommit implements Wakeups {
  readonly #due = new Map<string, Set<number>>();

  #add(channel: string, at: Date): void {
    const set = this.#due.get(channel) ?? new Set<number>();
    set.add(at.getTime());
    this.#due.set(channel, set);
  }

  deliveriesDue(at: Date): void {
    this.#add(DELIVERIES_CHANNEL, at);
  }

  remindersDue(at: Date): void {
    this.#add(REMINDERS_CHANNEL, at);
  }

  digestsDue(at: Date): void {
    this.#add(DIGESTS_CHANNEL, at);
  }

  broadcastsDue(at: Date): void {
    this.#add(BROADCASTS_CHANNEL, at);
  }

  /** After commit: the relay (the transaction added events) and every channel asked for. */
  send(to: WakeupCoalescer): void {
    to.eventsAdded();
    for (const [channel, times] of this.#due) for (const t of times) to.due(channel, new Date(t));
  }

  /** Inside the transaction, in one statement (for writers that notify there). */
  async notifyNow(db: Queryable): Promise<void> {
    const channels: string[] = [];
    const payloads: string[] = [];
    for (const [channel, times] of this.#due) {
      for (const t of times) {
        channels.push(channel);
        payloads.push(String(t));
      }
    }
    if (channels.length > 0) await db.query(`SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS x(c, p)`, [channels, payloads]);
  }
}

/**
 * A transaction that NOTIFYs nothing while it runs: its events do not wake the relay from the
 * trigger (migration 0800's setting), and what `fn` asks of `wake` is sent after commit through
 * `coalescer`. Concurrent writers then share commit flushes, as the notification POST does.
 */
export async function withQuietTransaction<T>(pool: Pool, coalescer: WakeupCoalescer, fn: (client: PoolClient, wake: AfterCommit) => Promise<T>): Promise<T> {
  const wake = new AfterCommit();
  const out = await withTransaction(pool, (client) => fn(client, wake), `BEGIN; SET LOCAL herald.events_notify = 'off'`);
  wake.send(coalescer);
  return out;
}
