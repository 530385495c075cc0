import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { Listener } from '../db/listener.ts';
import { INBOX_CHANNEL } from '../db/wakeup.ts';
import { toItem, type InboxItem, type InboxRow } from './items.ts';

/** Node fires a setTimeout at once when its delay is over 2^31 − 1 ms (~24.8 days): longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One open live stream: its subscription, its timers and its slot among the user's streams,
 * all given back by `close()`. Every method may be called after `close()` and then does nothing,
 * so the setup of a stream can await freely: a client that hangs up halfway through setup closes
 * the stream, and the setup steps that follow leave nothing behind.
 */
export interface LiveStream {
  readonly closed: boolean;
  /** Call `onItem` for each new item of the user until the stream closes. */
  subscribe(onItem: (item: InboxItem) => void): Promise<void>;
  /** Run `fn` every `ms` until the stream closes. */
  every(ms: number, fn: () => void): void;
  /** Run `fn` once at `when` (at once if it has passed), unless the stream closed first. */
  at(when: Date, fn: () => void): void;
  /** Run `fn` when the stream closes (at once if it has). */
  onClose(fn: () => void): void;
  close(): void;
}

export interface StreamStats {
  /** Open streams. */
  readonly streams: number;
  /** Item subscriptions of open streams. */
  readonly subscribers: number;
  /** Timers (keep-alives, token expiries) of open streams. */
  readonly timers: number;
}

/**
 * The live streams of one API process. Items reach every process: the worker that stores an item
 * NOTIFYs `herald_inbox`, and each process LISTENs and forwards it to the streams it holds.
 *
 * The per-user cap is per process, like the sockets, memory and timers it protects; a user on
 * several replicas may hold the cap on each. A cluster-wide count would need a shared record
 * renewed while each stream lives, for a limit whose purpose is to keep one process's resources
 * bounded.
 */
export class LiveStreams {
  readonly #pool: Pool;
  readonly #log: Logger;
  readonly #listener: Listener;
  readonly #maxPerUser: number;
  readonly #subscribers = new Map<string, Set<(item: InboxItem) => void>>();
  readonly #open = new Map<string, number>();
  #streams = 0;
  #timers = 0;
  #listening: Promise<void> | undefined;

  constructor(pool: Pool, log: Logger, maxPerUser: number) {
    this.#pool = pool;
    this.#log = log;
    this.#listener = new Listener(pool, log.child({ component: 'inbox-stream' }));
    this.#maxPerUser = maxPerUser;
  }

  get maxPerUser(): number {
    return this.#maxPerUser;
  }

  /** Open a stream for the user; undefined when the user already holds `maxPerUser` here. */
  open(userId: string): LiveStream | undefined {
    const held = this.#open.get(userId) ?? 0;
    if (held >= this.#maxPerUser) return undefined;
    this.#open.set(userId, held + 1);
    this.#streams++;

    let closed = false;
    let onItem: ((item: InboxItem) => void) | undefined;
    const timers = new Set<NodeJS.Timeout>();
    const closers: Array<() => void> = [];
    const addTimer = (t: NodeJS.Timeout) => {
      timers.add(t);
      this.#timers++;
    };
    const dropTimer = (t: NodeJS.Timeout) => {
      clearTimeout(t); // clears intervals too
      if (timers.delete(t)) this.#timers--;
    };

    const stream: LiveStream = {
      get closed() {
        return closed;
      },
      subscribe: async (fn) => {
        if (closed || onItem) return;
        this.#listening ??= this.#listener.listen(INBOX_CHANNEL, (payload) => void this.#forward(payload));
        await this.#listening;
        if (closed) return;
        onItem = fn;
        let set = this.#subscribers.get(userId);
        if (!set) this.#subscribers.set(userId, (set = new Set()));
        set.add(fn);
      },
      every: (ms, fn) => {
        if (!closed) addTimer(setInterval(fn, ms));
      },
      at: (when, fn) => {
        const arm = () => {
          if (closed) return;
          const wait = Math.max(0, when.getTime() - Date.now());
          const t: NodeJS.Timeout = setTimeout(() => {
            dropTimer(t);
            if (wait > MAX_TIMER_MS) arm();
            else if (!closed) fn();
          }, Math.min(wait, MAX_TIMER_MS));
          addTimer(t);
        };
        arm();
      },
      onClose: (fn) => {
        if (closed) fn();
        else closers.push(fn);
      },
      close: () => {
        if (closed) return;
        closed = true;
        for (const t of [...timers]) dropTimer(t);
        if (onItem) {
          const set = this.#subscribers.get(userId);
          set?.delete(onItem);
          if (set?.size === 0) this.#subscribers.delete(userId);
        }
        const left = (this.#open.get(userId) ?? 1) - 1;
        if (left > 0) this.#open.set(userId, left);
        else this.#open.delete(userId);
        this.#streams--;
        for (const fn of closers.splice(0)) {
          try {
            fn();
          } catch (err) {
            this.#log.warn({ err }, 'closing a live stream failed');
          }
        }
      },
    };
    return stream;
  }

  stats(): StreamStats {
    let subscribers = 0;
    for (const set of this.#subscribers.values()) subscribers += set.size;
    return { streams: this.#streams, subscribers, timers: this.#timers };
  }

  async #forward(payload: string): Promise<void> {
    let note: { userId?: string; id?: string };
    try {
      note = JSON.parse(payload) as { userId?: string; id?: string };
    } catch {
      return;
    }
    const subscribers = note.userId ? this.#subscribers.get(note.userId) : undefined;
    if (!subscribers || !note.id) return;
    const { rows } = await this.#pool.query<InboxRow>(`SELECT * FROM inbox_items WHERE id = $1`, [note.id]).catch(() => ({ rows: [] as InboxRow[] }));
    if (!rows[0]) return;
    const item = toItem(rows[0]);
    for (const s of [...subscribers]) s(item);
  }

  async close(): Promise<void> {
    await this.#listener.close();
  }
}
