import type { Pool, PoolClient } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { EVENT_INSERT } from '../events/outbox.ts';
import { eventTypeSql } from '../events/types.ts';
import { coerceError } from '../log/index.ts';
import type { ClaimedDelivery, Outcome } from './repository.ts';

/** A notification type's frequency cap as stored (notification_types.cap, migration 0910). */
export interface StoredCap {
  readonly max: number;
  readonly perSeconds: number;
  readonly action: 'defer' | 'drop';
  /** Only deliveries of this channel count and are capped; absent: every channel of the type. */
  readonly channel?: string | undefined;
}

/** What the delivery step asks before it sends: undefined to go on, or the outcome already recorded. */
export interface DeliveryGate {
  check(job: ClaimedDelivery): Promise<Outcome | undefined> | Outcome | undefined;
}

export interface CapStepOptions {
  /** How long an app's list of capped types is trusted before it is read again (default 5 s). */
  readonly cacheMs?: number;
}

interface Cached {
  readonly until: number;
  readonly caps: Promise<ReadonlyMap<string, StoredCap>>;
}

/** What a notification keeps of its type and urgency in its payload (src/notifications/service.ts). */
interface TimingContent {
  readonly type?: string;
  readonly typeRequired?: boolean;
  readonly priority?: string;
}

/**
 * The frequency-cap step of a delivery (docs/timing.md, "Frequency caps"), run by the one
 * delivery step just before the send, for both transports. A delivery of a capped type counts
 * the user's deliveries of that type (and channel) that passed the cap within the window; under
 * the cap it writes its own ledger row and goes on, over it the row is deferred to the moment the
 * cap allows it (attempts untouched, `deferred_by = 'cap'`) or dropped (`capped`, with a
 * `notification:capped` event). Count, ledger row and verdict share one transaction holding a
 * lock per user and type, so two workers never both pass the last free place.
 *
 * The decision is made when sending, not at fan-out: what counts is what was sent, and a delivery
 * deferred by quiet hours or retried for an hour must be counted when it goes, not when it was made.
 * Deliveries of types without a cap pay one map lookup: the capped types of an app are read once
 * per `cacheMs`. `priority: "critical"` and required types go through every cap, as through quiet hours.
 */
export class CapStep implements DeliveryGate {
  readonly #pool: Pool;
  readonly #cacheMs: number;
  readonly #byApp = new Map<string, Cached>();

  constructor(pool: Pool, options: CapStepOptions = {}) {
    this.#pool = pool;
    this.#cacheMs = options.cacheMs ?? 5_000;
  }

  async check(job: ClaimedDelivery): Promise<Outcome | undefined> {
    const content = job.content as TimingContent;
    if (!content.type || !job.userId || content.priority === 'critical' || content.typeRequired === true) return undefined;
    let cap: StoredCap | undefined;
    try {
      cap = (await this.#capsOf(job.appId)).get(content.type);
    } catch (err) {
      return { id: job.id, kind: 'retry', error: `reading the frequency caps failed: ${coerceError(err).message}`, delayMs: 5_000 };
    }
    if (!cap || (cap.channel !== undefined && cap.channel !== job.channel)) return undefined;
    try {
      return await withTransaction(this.#pool, (client) => decide(client, job, job.userId!, content.type!, cap));
    } catch (err) {
      return { id: job.id, kind: 'retry', error: `checking the frequency cap failed: ${coerceError(err).message}`, delayMs: 5_000 };
    }
  }

  /** Forget what was read (a type's cap changed in this process). */
  forget(appId?: string): void {
    if (appId === undefined) this.#byApp.clear();
    else this.#byApp.delete(appId);
  }

  #capsOf(appId: string): Promise<ReadonlyMap<string, StoredCap>> {
    const now = Date.now();
    const cached = this.#byApp.get(appId);
    if (cached && cached.until > now) return cached.caps;
    const caps = this.#pool
      .query<{ key: string; cap: StoredCap }>(`SELECT key, cap FROM notification_types WHERE app_id = $1 AND cap IS NOT NULL`, [appId])
      .then(({ rows }) => new Map(rows.map((r) => [r.key, r.cap])));
    // A failed read is not kept: the next delivery asks again.
    caps.catch(() => this.#byApp.delete(appId));
    this.#byApp.set(appId, { until: now + this.#cacheMs, caps });
    return caps;
  }
}

/** Count, then pass (ledger row) or hold (defer or drop), under the lock of this user and type. */
async function decide(db: PoolClient, job: ClaimedDelivery, userId: string, type: string, cap: StoredCap): Promise<Outcome | undefined> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext('herald:cap'), hashtext($1 || E'\\x1f' || $2 || E'\\x1f' || $3))`, [job.appId, userId, type]);
  // The newest `max` sends that count: when the max-th newest leaves the window there is room.
  const { rows } = await db.query<{ sent_at: Date; free_at: Date }>(
    `SELECT c.sent_at, c.sent_at + make_interval(secs => $6) AS free_at
       FROM cap_usage c JOIN deliveries d ON d.id = c.delivery_id AND d.status IN ('sending', 'sent')
      WHERE c.app_id = $1 AND c.user_id = $2 AND c.type_key = $3 AND ($4::text IS NULL OR c.channel = $4)
        AND c.delivery_id <> $5 AND c.sent_at > now() - make_interval(secs => $6)
      ORDER BY c.sent_at DESC LIMIT $7`,
    [job.appId, userId, type, cap.channel ?? null, job.id, cap.perSeconds, cap.max],
  );
  if (rows.length < cap.max) {
    await db.query(
      `INSERT INTO cap_usage (delivery_id, app_id, user_id, type_key, channel) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (delivery_id) DO UPDATE SET sent_at = now()`,
      [job.id, job.appId, userId, type, job.channel],
    );
    // The user's rows that no cap window can reach any more (at least a day is kept, for a cap made longer).
    await db.query(
      `DELETE FROM cap_usage WHERE app_id = $1 AND user_id = $2 AND type_key = $3 AND sent_at < now() - make_interval(secs => greatest($4, 86400))`,
      [job.appId, userId, type, cap.perSeconds],
    );
    return undefined;
  }
  if (cap.action === 'defer') {
    const free = rows[cap.max - 1]!.free_at;
    // Back to pending at the moment the cap allows it; the attempt the claim counted is given back.
    // Caps come before quiet hours and send windows (docs/timing.md): a moment inside the user's
    // quiet hours or outside their send window is moved on to the first time both allow, and that
    // rule is then the one that decided the time.
    const { rows: moved } = await db.query<{ run_at: Date }>(
      `WITH q AS (SELECT herald_quiet_release(d.notification_id, d.user_id, d.channel, $2) AS quiet_end,
                         herald_window_release(d.notification_id, d.user_id, d.channel, $2) AS window_due
                    FROM deliveries d WHERE d.id = $1)
       UPDATE deliveries SET status = 'pending', due_at = COALESCE(q.window_due, q.quiet_end, $2), run_at = COALESCE(q.window_due, q.quiet_end, $2),
              attempts = greatest(attempts - 1, 0),
              deferred_by = CASE WHEN q.window_due > COALESCE(q.quiet_end, $2) THEN 'send-window' WHEN q.quiet_end IS NOT NULL THEN 'quiet-hours' ELSE 'cap' END,
              locked_by = NULL, updated_at = now()
         FROM q
        WHERE id = $1 AND status = 'sending'
       RETURNING run_at`,
      [job.id, free],
    );
    return { id: job.id, kind: 'settled', as: 'deferred', until: moved[0]?.run_at ?? free };
  }
  const error = `frequency cap of type "${type}": at most ${cap.max} per ${cap.perSeconds} s${cap.channel ? ` on ${cap.channel}` : ''}`;
  await db.query(
    `WITH upd AS (
       UPDATE deliveries SET status = 'capped', last_error = $2, deferred_by = 'cap', locked_by = NULL, updated_at = now()
        WHERE id = $1 AND status = 'sending'
        RETURNING id, notification_id, user_id, device_id, channel, provider, attempts)
     ${EVENT_INSERT}
     SELECT user_id, ${eventTypeSql('notification:capped')}, 'notification', notification_id,
            jsonb_strip_nulls(jsonb_build_object('deliveryId', id::text, 'channel', channel, 'provider', provider,
              'deviceId', device_id, 'attempts', attempts, 'type', $3::text, 'error', $2::text))
       FROM upd`,
    [job.id, error, type],
  );
  return { id: job.id, kind: 'settled', as: 'capped' };
}
