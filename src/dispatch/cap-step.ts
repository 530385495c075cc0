import type { Pool, PoolClient } from '../db/pool.ts';
import { EVENT_INSERT } from '../events/outbox.ts';
import { eventTypeSql } from '../events/types.ts';
import { coerceError } from '../log/index.ts';
import type { ClaimedDelivery, Outcome } from './repository.ts';
import type { Batcher } from '../core/batcher.ts';
import { gateBatcher, ReadCache, type DeliveryGate } from './gates.ts';

/** A notification type's frequency cap as stored (notification_types.cap, migration 0910). */
export interface StoredCap {
  readonly max: number;
  readonly perSeconds: number;
  readonly action: 'defer' | 'drop';
  /** Only deliveries of this channel count and are capped; absent: every channel of the type. */
  readonly channel?: string | undefined;
}

export interface CapStepOptions {
  /** How long an app's list of capped types is trusted before it is read again (default 5 s). */
  readonly cacheMs?: number;
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
 * lock per user and type, so two workers never both pass the last free place; the checks a
 * worker makes at about the same time (its claimed slice) share one transaction (`decide`).
 *
 * The decision is made when sending, not at fan-out: what counts is what was sent, and a delivery
 * deferred by quiet hours or retried for an hour must be counted when it goes, not when it was made.
 * Deliveries of types without a cap pay one map lookup: the capped types of an app are read once
 * per `cacheMs`. `priority: "critical"` and required types go through every cap, as through quiet hours.
 */
export class CapStep implements DeliveryGate {
  readonly #pool: Pool;
  readonly #caps: ReadCache<ReadonlyMap<string, StoredCap>>;
  readonly #batch: Batcher<Ask, Outcome | undefined>;

  constructor(pool: Pool, options: CapStepOptions = {}) {
    this.#pool = pool;
    this.#caps = new ReadCache(options.cacheMs ?? 5_000);
    this.#batch = gateBatcher(pool, 'checking the frequency cap', decide);
  }

  async check(job: ClaimedDelivery): Promise<Outcome | undefined> {
    const content = job.content as TimingContent;
    if (!content.type || !job.userId || content.priority === 'critical' || content.typeRequired === true) return undefined;
    // The type, and so its cap, belongs to the notification's app; a push delivery's own app is
    // its device's, which may be another.
    const appId = job.notificationAppId ?? job.appId;
    let cap: StoredCap | undefined;
    try {
      cap = (await this.#capsOf(appId)).get(content.type);
    } catch (err) {
      return { id: job.id, kind: 'retry', error: `reading the frequency caps failed: ${coerceError(err).message}`, delayMs: 5_000 };
    }
    if (!cap || (cap.channel !== undefined && cap.channel !== job.channel)) return undefined;
    return this.#batch.add({ job, appId, userId: job.userId, type: content.type, cap });
  }

  /** Forget what was read (a type's cap changed in this process). */
  forget(appId?: string): void {
    this.#caps.forget(appId);
  }

  #capsOf(appId: string): Promise<ReadonlyMap<string, StoredCap>> {
    return this.#caps.get(appId, () => this.#pool
      .query<{ key: string; cap: StoredCap }>(`SELECT key, cap FROM notification_types WHERE app_id = $1 AND cap IS NOT NULL`, [appId])
      .then(({ rows }) => new Map(rows.map((r) => [r.key, r.cap]))));
  }
}

/** One delivery asking to pass a cap. */
interface Ask {
  readonly job: ClaimedDelivery;
  /** The app of the notification's type (the cap's app): the ledger counts per it. */
  readonly appId: string;
  readonly userId: string;
  readonly type: string;
  readonly cap: StoredCap;
}

/** The lock and counting key of a user, type and (for a per-channel cap) channel. */
const groupOf = (a: Ask) => [a.appId, a.userId, a.type, a.cap.channel ?? ''].join('\x1f');

/**
 * Decide every delivery asking at once in one transaction: lock each user and type (in one
 * order, so two workers never wait on each other crosswise), read the newest sends that count
 * for each, then go through the asks in order, each pass taking a place and writing its ledger
 * row, each over the cap deferred to when a place frees or dropped. A worker sends its claimed
 * slice at once, so this is one transaction per slice instead of one per delivery (a commit,
 * with its flush to disk, per delivery made caps the slowest part of a busy send).
 */
async function decide(db: PoolClient, asks: readonly Ask[]): Promise<(Outcome | undefined)[]> {
  const groups = [...new Set(asks.map(groupOf))].sort();
  // The locks in one order (the sub-select is not flattened, so its ORDER BY holds), and the
  // transaction's clock in the same round trip.
  const { rows: clock } = await db.query<{ now: Date }>(
    `SELECT now() AS now, count(pg_advisory_xact_lock(hashtext('herald:cap'), hashtext(g))) AS locked
       FROM (SELECT g FROM unnest($1::text[]) AS g ORDER BY g OFFSET 0) s`,
    [groups],
  );
  const now = clock[0]!.now.getTime();
  const first = new Map<string, Ask>();
  for (const a of asks) if (!first.has(groupOf(a))) first.set(groupOf(a), a);
  const heads = groups.map((g) => first.get(g)!);
  // Per group, how many places the sends in the window take (at most `max`: the newest `max`),
  // and when the oldest of those leaves the window. The ledger holds only sends that count
  // (migration 1050), so this reads the group's index range and nothing else.
  const { rows } = await db.query<{ i: number; taken: number; oldest: Date | null }>(
    `SELECT q.i::int AS i, c.taken, c.oldest
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::int[]) WITH ORDINALITY AS q(app_id, user_id, type_key, channel, per, max, i)
       CROSS JOIN LATERAL (
         SELECT count(*)::int AS taken, min(c.sent_at) + make_interval(secs => q.per) AS oldest
           FROM (SELECT c.sent_at FROM cap_usage c
                  WHERE c.app_id = q.app_id AND c.user_id = q.user_id AND c.type_key = q.type_key AND (q.channel = '' OR c.channel = q.channel)
                    AND c.delivery_id <> ALL ($7::bigint[]) AND c.sent_at > now() - make_interval(secs => q.per)
                  ORDER BY c.sent_at DESC LIMIT q.max) c) c`,
    [heads.map((a) => a.appId), heads.map((a) => a.userId), heads.map((a) => a.type), heads.map((a) => a.cap.channel ?? ''),
      heads.map((a) => a.cap.perSeconds), heads.map((a) => a.cap.max), asks.map((a) => a.job.id)],
  );
  // Per group: the places taken, and the moment (ms) the oldest of the newest `max` frees. A
  // delivery over the cap waits for that moment; when this slice's own passes filled every
  // place, the oldest of them is one of this slice's (they free at now + per).
  const state = new Map<string, { taken: number; oldest: number | undefined }>();
  for (const r of rows) state.set(groups[r.i - 1]!, { taken: r.taken, oldest: r.oldest?.getTime() });
  const passed: Ask[] = [];
  const deferred: { ask: Ask; at: number }[] = [];
  const dropped: Ask[] = [];
  for (const a of asks) {
    const g = state.get(groupOf(a))!;
    if (g.taken < a.cap.max) {
      g.taken += 1;
      passed.push(a);
    } else if (a.cap.action === 'defer') {
      deferred.push({ ask: a, at: g.oldest ?? now + a.cap.perSeconds * 1000 });
    } else {
      dropped.push(a);
    }
  }
  const outcomes = new Map<string, Outcome>();
  if (passed.length > 0) {
    await db.query(
      `INSERT INTO cap_usage (delivery_id, app_id, user_id, type_key, channel)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])
       ON CONFLICT (delivery_id) DO UPDATE SET sent_at = now()`,
      [passed.map((a) => a.job.id), passed.map((a) => a.appId), passed.map((a) => a.userId), passed.map((a) => a.type), passed.map((a) => a.job.channel)],
    );
    // Rows no cap window can reach any more are removed by the retention pass (src/retention/purge.ts).
  }
  if (deferred.length > 0) {
    // Back to pending at the moment the cap allows it; the attempt the claim counted is given back.
    // Caps come before quiet hours and send windows (docs/timing.md): a moment inside the user's
    // quiet hours or outside their send window is moved on to the first time both allow, and that
    // rule is then the one that decided the time.
    const { rows: moved } = await db.query<{ id: string; run_at: Date }>(
      `WITH q AS (
         SELECT v.id, v.free, herald_quiet_release(d.notification_id, d.user_id, d.channel, v.free) AS quiet_end,
                herald_window_release(d.notification_id, d.user_id, d.channel, v.free) AS window_due
           FROM unnest($1::bigint[], $2::timestamptz[]) AS v(id, free) JOIN deliveries d ON d.id = v.id)
       UPDATE deliveries d SET status = 'pending', due_at = COALESCE(q.window_due, q.quiet_end, q.free), run_at = COALESCE(q.window_due, q.quiet_end, q.free),
              attempts = greatest(d.attempts - 1, 0),
              deferred_by = CASE WHEN q.window_due > COALESCE(q.quiet_end, q.free) THEN 'send-window' WHEN q.quiet_end IS NOT NULL THEN 'quiet-hours' ELSE 'cap' END,
              locked_by = NULL, updated_at = now()
         FROM q
        WHERE d.id = q.id AND d.status = 'sending'
       RETURNING d.id::text AS id, d.run_at`,
      [deferred.map((d) => d.ask.job.id), deferred.map((d) => new Date(d.at))],
    );
    const at = new Map(moved.map((m) => [m.id, m.run_at]));
    for (const d of deferred) outcomes.set(d.ask.job.id, { id: d.ask.job.id, kind: 'settled', as: 'deferred', until: at.get(d.ask.job.id) ?? new Date(d.at) });
  }
  if (dropped.length > 0) {
    const errorOf = (a: Ask) => `frequency cap of type "${a.type}": at most ${a.cap.max} per ${a.cap.perSeconds} s${a.cap.channel ? ` on ${a.cap.channel}` : ''}`;
    await db.query(
      `WITH upd AS (
         UPDATE deliveries d SET status = 'capped', last_error = v.error, deferred_by = 'cap', locked_by = NULL, updated_at = now()
           FROM unnest($1::bigint[], $2::text[], $3::text[]) AS v(id, error, type)
          WHERE d.id = v.id AND d.status = 'sending'
          RETURNING d.id, d.notification_id, d.user_id, d.device_id, d.channel, d.provider, d.attempts, v.error, v.type)
       ${EVENT_INSERT}
       SELECT user_id, ${eventTypeSql('notification:capped')}, 'notification', notification_id,
              jsonb_strip_nulls(jsonb_build_object('deliveryId', id::text, 'channel', channel, 'provider', provider,
                'deviceId', device_id, 'attempts', attempts, 'type', type, 'error', error))
         FROM upd`,
      [dropped.map((a) => a.job.id), dropped.map(errorOf), dropped.map((a) => a.type)],
    );
    for (const a of dropped) outcomes.set(a.job.id, { id: a.job.id, kind: 'settled', as: 'capped' });
  }
  return asks.map((a) => outcomes.get(a.job.id));
}
