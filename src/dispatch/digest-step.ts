import type { Pool, PoolClient } from '../db/pool.ts';
import { notifyDigestsDue } from '../db/wakeup.ts';
import { coerceError } from '../log/index.ts';
import type { Batcher } from '../core/batcher.ts';
import { HELD_UNTIL, typeHasDigestChoices } from '../notifications/digests.ts';
import { gateBatcher, ReadCache, type DeliveryGate } from './gates.ts';
import type { ClaimedDelivery, Outcome } from './repository.ts';

export interface DigestStepOptions {
  /** How long "does anyone digest this type" is trusted before it is asked again (default 5 s). */
  readonly cacheMs?: number;
}

/** What a notification keeps of its type and urgency in its payload (src/notifications/service.ts). */
interface TimingContent {
  readonly type?: string;
  readonly typeRequired?: boolean;
  readonly priority?: string;
}

/**
 * The digest step of a delivery (docs/timing.md, "Digests the user chooses"), run by the one
 * delivery step before the frequency cap and the send, on both transports. A notification due when
 * it is created is collected by the API in the transaction that creates it
 * (`collectByPreference`); everything that comes due later — a scheduled or local-time `sendAt`,
 * a reminder's occurrence, a broadcast's deliveries — is collected here, when it is due: a
 * delivery whose recipient chose a digest for its type is held (pending, never due,
 * `deferred_by = 'digest'`, the claim's attempt given back) with the recipient's other pending
 * deliveries of the notification, and the notification joins the recipient's open digest for
 * `type:<type key>` (or opens one closing at their next hour or daily time), all in one
 * transaction. The scheduler closes the digest as for any other (src/scheduler/digests.ts).
 *
 * Deliveries of types nobody digests pay a cached lookup: whether any user of the app chose a
 * digest for the type is asked at most once per `cacheMs`. Critical notifications, required
 * types, notifications with fallback steps and digests themselves are never collected. The checks
 * a worker makes at about the same time (its claimed slice) share one transaction.
 */
export class DigestStep implements DeliveryGate {
  readonly #pool: Pool;
  readonly #choices: ReadCache<boolean>;
  readonly #batch: Batcher<{ readonly job: ClaimedDelivery }, Outcome | undefined>;

  constructor(pool: Pool, options: DigestStepOptions = {}) {
    this.#pool = pool;
    this.#choices = new ReadCache(options.cacheMs ?? 5_000);
    this.#batch = gateBatcher(pool, 'collecting into a digest', (client, asks) => hold(client, asks.map((a) => a.job)));
  }

  async check(job: ClaimedDelivery): Promise<Outcome | undefined> {
    const content = job.content as TimingContent;
    if (!content.type || !job.userId || job.step || content.priority === 'critical' || content.typeRequired === true) return undefined;
    // The type belongs to the notification's app (a push delivery's own app is its device's).
    const appId = job.notificationAppId ?? job.appId;
    let any: boolean;
    try {
      any = await this.#anyChoose(appId, content.type);
    } catch (err) {
      return { id: job.id, kind: 'retry', error: `reading the digest choices failed: ${coerceError(err).message}`, delayMs: 5_000 };
    }
    return any ? this.#batch.add({ job }) : undefined;
  }

  #anyChoose(appId: string, type: string): Promise<boolean> {
    return this.#choices.get(`${appId}\x1f${type}`, () => typeHasDigestChoices(this.#pool, appId, type));
  }
}

/**
 * Hold every delivery of `jobs` whose recipient chose a digest for its notification's type, with
 * the recipient's other pending deliveries of that notification, and list the notification in the
 * recipient's open digest (opened if there is none). One lock per recipient and key, taken in one
 * order first, so two workers collecting for the same user never wait on each other crosswise.
 */
async function hold(db: PoolClient, jobs: readonly ClaimedDelivery[]): Promise<(Outcome | undefined)[]> {
  const ids = jobs.map((j) => j.id);
  const groups = [...new Set(jobs.map((j) => `${j.notificationAppId ?? j.appId}\x1f${j.userId}\x1f${(j.content as TimingContent).type}`))].sort();
  await db.query(
    `SELECT count(pg_advisory_xact_lock(hashtext('herald:digest'), hashtext(g))) FROM (SELECT g FROM unnest($1::text[]) AS g ORDER BY g OFFSET 0) s`,
    [groups],
  );
  const { rows } = await db.query<{ held: string[] | null; closes_at: Date | null }>(
    `WITH chosen AS (
       SELECT DISTINCT ON (d.notification_id, d.user_id) d.notification_id, d.user_id, n.app_id, 'type:' || n.type AS key, n.channels, n.created_at,
              herald_digest_closes_at(p.digest, COALESCE(u.timezone, ap.default_timezone, 'UTC'), now()) AS closes_at
         FROM deliveries d
         JOIN notifications n ON n.id = d.notification_id
         JOIN user_type_preferences p ON p.app_id = n.app_id AND p.user_id = d.user_id AND p.type_key = n.type AND p.digest IS NOT NULL
         JOIN users u ON u.id = d.user_id
         LEFT JOIN apps ap ON ap.id = n.app_id
        WHERE d.id = ANY ($1::bigint[]) AND d.status = 'sending' AND d.step = 0
          AND n.type IS NOT NULL AND n.steps IS NULL AND n.cancelled_at IS NULL
          AND n.source IS DISTINCT FROM 'digest' AND n.priority IS DISTINCT FROM 'critical'
     ), held AS (
       UPDATE deliveries d
          SET status = 'pending', run_at = '${HELD_UNTIL}', due_at = now(), deferred_by = 'digest',
              attempts = CASE WHEN d.status = 'sending' THEN greatest(d.attempts - 1, 0) ELSE d.attempts END,
              locked_by = NULL, updated_at = now()
         FROM chosen c
        WHERE d.notification_id = c.notification_id AND d.user_id = c.user_id
          AND (d.status = 'pending' OR (d.status = 'sending' AND d.id = ANY ($1::bigint[])))
       RETURNING d.id, d.notification_id, d.user_id
     ), kept AS (
       SELECT c.* FROM chosen c WHERE EXISTS (SELECT 1 FROM held h WHERE h.notification_id = c.notification_id AND h.user_id = c.user_id)
     ), fresh AS (
       -- Not yet in the open digest: another delivery of the notification (its other channel),
       -- held by an earlier slice under the same lock, already listed it.
       SELECT k.* FROM kept k
        WHERE NOT EXISTS (SELECT 1 FROM digests dg JOIN digest_items di ON di.digest_id = dg.id
                           WHERE dg.app_id = k.app_id AND dg.user_id = k.user_id AND dg.key = k.key AND dg.status = 'open'
                             AND di.notification_id = k.notification_id)
     ), due AS (
       SELECT DISTINCT ON (app_id, user_id, key) app_id, user_id, key, closes_at, channels,
              count(*) OVER (PARTITION BY app_id, user_id, key) AS items
         FROM fresh ORDER BY app_id, user_id, key, created_at
     ), g AS (
       INSERT INTO digests (app_id, user_id, key, closes_at, channels, template, items)
       SELECT app_id, user_id, key, closes_at, channels, NULL, items FROM due ORDER BY user_id
       ON CONFLICT (app_id, user_id, key) WHERE status = 'open' DO UPDATE SET items = digests.items + EXCLUDED.items
       RETURNING id, app_id, user_id, key, closes_at
     ), i AS (
       INSERT INTO digest_items (digest_id, notification_id)
       SELECT g.id, k.notification_id FROM g JOIN fresh k ON k.app_id = g.app_id AND k.user_id = g.user_id AND k.key = g.key
        ORDER BY k.created_at
       ON CONFLICT DO NOTHING
     )
     SELECT (SELECT array_agg(id::text) FROM held WHERE id = ANY ($1::bigint[])) AS held, (SELECT min(closes_at) FROM g) AS closes_at`,
    [ids],
  );
  const held = new Set(rows[0]?.held ?? []);
  const closesAt = rows[0]?.closes_at;
  if (closesAt) await notifyDigestsDue(db, closesAt);
  return jobs.map((j) => (held.has(j.id) ? { id: j.id, kind: 'settled' as const, as: 'deferred' as const } : undefined));
}
