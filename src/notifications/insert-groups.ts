import pg from 'pg';
import type { Pool } from '../db/pool.ts';
import { currentActor } from '../events/actor.ts';
import { insertBatch, type NewBatchRow } from './repository.ts';

interface Waiter {
  readonly row: NewBatchRow;
  resolve(deliveries: number): void;
  reject(err: unknown): void;
}

/**
 * Group commit for single notifications (`POST /v1/notifications`). Each notification is one
 * statement and its own transaction (insertBatch); while `maxInFlight` of those are running,
 * the notifications that come in meanwhile wait and then go together, as one statement (the
 * batch form: one round trip, one plan start, one commit and its flush to disk for all of them).
 * A notification that arrives when fewer are running goes at once (at the end of the event
 * loop's turn, with any that arrived in the same turn), so a quiet API adds no wait; a busy one
 * trades a short wait for far less work per notification.
 *
 * Every notification still commits with its own deliveries and events, and the caller answers
 * only after that commit. A group that PostgreSQL refused (an error it sent, so the transaction
 * was rolled back) is written again one notification at a time, so one bad row fails only its
 * own request; a group whose outcome is unknown (the connection failed) fails every request in
 * it, as a single statement would have failed its one. Notifications are grouped by the actor
 * their events record (the caller's key), one actor per statement.
 */
export class InsertGroups {
  readonly #pool: Pool;
  readonly #maxInFlight: number;
  readonly #maxRows: number;
  #inFlight = 0;
  readonly #waiting = new Map<string | null, Waiter[]>();
  #scheduled = false;

  constructor(pool: Pool, options: { maxInFlight?: number; maxRows?: number } = {}) {
    this.#pool = pool;
    this.#maxInFlight = options.maxInFlight ?? 4;
    this.#maxRows = options.maxRows ?? 100;
  }

  /** Write `row` (its deliveries and events); resolves after commit with the deliveries its statement made (of its whole group). */
  add(row: NewBatchRow): Promise<number> {
    const actor = currentActor();
    return new Promise<number>((resolve, reject) => {
      const list = this.#waiting.get(actor);
      if (list) list.push({ row, resolve, reject });
      else this.#waiting.set(actor, [{ row, resolve, reject }]);
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          this.#drain();
        });
      }
    });
  }

  #drain(): void {
    while (this.#inFlight < this.#maxInFlight && this.#waiting.size > 0) {
      const [actor, list] = this.#waiting.entries().next().value!;
      const group = list.splice(0, this.#maxRows);
      if (list.length === 0) this.#waiting.delete(actor);
      this.#inFlight++;
      void this.#write(actor, group).finally(() => {
        this.#inFlight--;
        this.#drain();
      });
    }
  }

  async #write(actor: string | null, group: readonly Waiter[]): Promise<void> {
    try {
      const deliveries = await insertBatch(this.#pool, group.map((w) => w.row), actor);
      for (const w of group) w.resolve(deliveries);
    } catch (err) {
      if (group.length === 1 || !(err instanceof pg.DatabaseError)) {
        for (const w of group) w.reject(err);
        return;
      }
      // PostgreSQL refused the statement, so none of it was stored: each on its own.
      await Promise.all(group.map(async (w) => {
        try {
          w.resolve(await insertBatch(this.#pool, [w.row], actor));
        } catch (e) {
          w.reject(e);
        }
      }));
    }
  }
}
