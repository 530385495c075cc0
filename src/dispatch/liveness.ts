import pg from 'pg';
import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';

/**
 * Worker liveness without heartbeats: each claimer (delivery worker, dispatch publisher) holds a
 * session advisory lock named after its id, on a connection of its own, for as long as it runs.
 * When the process dies (even by SIGKILL) PostgreSQL ends that session and frees the lock, so
 * other workers can tell the rows it left are orphaned and release them long before their lease.
 *
 * The lock is only as good as its connection: a database restart, a failover or a network blip
 * ends the session while the process lives on. So the lock is taken again, with backoff, for as
 * long as the claimer runs, and `held` says whether it is held right now: a claimer must not
 * claim while it is not (other workers would take those rows for a dead worker's and send them
 * a second time). Sweepers in turn wait a grace period before believing a free lock (see
 * DeadWorkerSweeper), long enough for a live claimer to take its lock back.
 */
export const LIVENESS_LOCK_CLASS = 7_310_003;

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 1_000;
/** How often the lock's session is checked: a silently dead TCP connection shows only when used. */
const CHECK_INTERVAL_MS = 2_000;

export class LivenessLock {
  readonly #connection: pg.ClientConfig;
  readonly #id: string;
  readonly #log: Logger;
  #client: pg.Client | undefined;
  #held = false;
  #stopped = false;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #waiters: Array<() => void> = [];

  constructor(pool: Pool, id: string, log: Logger, applicationName: string) {
    // Bounded connect and queries: a connection to a server that vanished without a word (no RST)
    // must be noticed and replaced, not waited on for the kernel's minutes of retransmissions.
    this.#connection = { ...(pool.options as pg.ClientConfig), application_name: applicationName, keepAlive: true, connectionTimeoutMillis: 5_000, query_timeout: 10_000 };
    this.#id = id;
    this.#log = log;
  }

  get held(): boolean {
    return this.#held;
  }

  /** Take the lock once (start-up fails loudly when the database is unreachable), then keep it. */
  async start(): Promise<void> {
    if (!(await this.#acquire())) throw new Error(`the liveness lock of ${this.#id} is held by another session`);
    this.#checkTimer = setInterval(() => void this.#check(), CHECK_INTERVAL_MS);
    this.#checkTimer.unref();
  }

  /** Resolves when the lock is held (at once if it is) or the lock is stopped. */
  whenHeld(): Promise<void> {
    if (this.#held || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#checkTimer);
    this.#wakeWaiters();
    const client = this.#client;
    this.#client = undefined;
    this.#held = false;
    await client?.end().catch(() => undefined);
  }

  /** One attempt: connect and try the lock. True when held. */
  async #acquire(): Promise<boolean> {
    const client = new pg.Client(this.#connection);
    // A session that ends (error or not) loses the lock with it.
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client));
    try {
      await client.connect();
      // try, not wait: after a network blip the old session may linger on the server until it
      // notices; blocking on it would hold this attempt (and stop()) hostage.
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LIVENESS_LOCK_CLASS, this.#id]);
      if (!rows[0]?.ok) {
        await client.end().catch(() => undefined);
        return false;
      }
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.#stopped) {
      await client.end().catch(() => undefined);
      return false;
    }
    this.#client = client;
    this.#held = true;
    this.#failures = 0;
    this.#wakeWaiters();
    return true;
  }

  #lost(client: pg.Client, err?: Error): void {
    if (client !== this.#client) return;
    this.#client = undefined;
    this.#held = false;
    client.end().catch(() => undefined);
    if (this.#stopped) return;
    this.#log.warn({ err: err ? coerceError(err) : undefined }, 'liveness lock lost with its connection; not claiming until it is taken again');
    this.#retry();
  }

  #retry(): void {
    if (this.#stopped || this.#retryTimer) return;
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.#failures);
    this.#failures++;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#acquire().then(
        (held) => {
          if (held) this.#log.info('liveness lock taken again');
          else this.#retry();
        },
        (err: unknown) => {
          if (this.#failures === 1 || this.#failures % 20 === 0) this.#log.warn({ err: coerceError(err), attempts: this.#failures }, 'taking the liveness lock again failed; retrying');
          this.#retry();
        },
      );
    }, delay);
  }

  /** A cheap round trip on the lock's session, so a connection that died silently is noticed. */
  async #check(): Promise<void> {
    const client = this.#client;
    if (!client || this.#stopped) return;
    try {
      await client.query('SELECT 1');
    } catch (err) {
      this.#lost(client, coerceError(err));
    }
  }

  #wakeWaiters(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/**
 * Releases rows held by claimers whose liveness lock is free, i.e. that died. A free lock is only
 * believed after it has been seen free on every sweep for `graceMs`: a live claimer that lost its
 * connection for a moment takes its lock back within about a second, and its rows must stay its
 * own meanwhile. Each process decides from its own observations; nothing is shared but the locks.
 *
 * Observing reads pg_locks instead of trying the lock: a try holds the lock for the length of a
 * transaction, and other sweepers' tries would then look like a live claimer and keep restarting
 * the grace period. Only the release itself takes the lock (for its transaction), so the claimer
 * cannot come back half-way through it.
 */
export class DeadWorkerSweeper {
  readonly #pool: Pool;
  readonly #me: string;
  readonly #graceMs: number;
  /** Worker id → when its lock was first seen free (seen free on every sweep since). */
  readonly #suspects = new Map<string, number>();
  #running: Promise<number> | undefined;

  constructor(pool: Pool, me: string, graceMs: number) {
    this.#pool = pool;
    this.#me = me;
    this.#graceMs = graceMs;
  }

  /** One sweep (never two at once); returns how many rows were released. */
  sweep(): Promise<number> {
    this.#running ??= this.#sweep().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #sweep(): Promise<number> {
    const { rows } = await this.#pool.query<{ worker: string; free: boolean }>(
      `SELECT w.worker, NOT EXISTS (
                SELECT 1 FROM pg_locks l
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND l.classid = $2::bigint::oid
                   AND l.objid = ((hashtext(w.worker)::bigint + 4294967296) % 4294967296)::oid) AS free
         FROM (SELECT DISTINCT locked_by AS worker FROM deliveries
                WHERE status = 'sending' AND locked_by IS NOT NULL AND locked_by <> $1) w`,
      [this.#me, LIVENESS_LOCK_CLASS],
    );
    const now = Date.now();
    const seen = new Set(rows.map((r) => r.worker));
    for (const worker of this.#suspects.keys()) if (!seen.has(worker)) this.#suspects.delete(worker);
    let released = 0;
    for (const { worker, free } of rows) {
      if (!free) {
        this.#suspects.delete(worker); // alive
        continue;
      }
      const since = this.#suspects.get(worker);
      if (since === undefined) this.#suspects.set(worker, now);
      else if (now - since >= this.#graceMs) released += await this.#release(worker);
    }
    return released;
  }

  async #release(worker: string): Promise<number> {
    return withTransaction(this.#pool, async (client) => {
      const { rows: lock } = await client.query<{ free: boolean }>(
        `SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS free`,
        [LIVENESS_LOCK_CLASS, worker],
      );
      if (!lock[0]?.free) return 0; // it came back (or another sweeper is releasing it right now)
      const { rowCount } = await client.query(
        `UPDATE deliveries SET status = 'pending', run_at = now(), locked_by = NULL, updated_at = now(),
                last_error = 'the worker sending it stopped; sending again'
          WHERE status = 'sending' AND locked_by = $1`,
        [worker],
      );
      this.#suspects.delete(worker);
      return rowCount ?? 0;
    });
  }
}
