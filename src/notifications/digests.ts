import type { Queryable } from '../db/pool.ts';

/**
 * Digest SQL (docs/timing.md, "Digests"). A notification collected into digests keeps its
 * deliveries, held: pending, never due (HELD_UNTIL), `deferred_by = 'digest'`; each recipient's
 * open digest for the key (opened by its first item, closing at that moment plus the window, or
 * at the next hour / local time the user chose for the type) lists it in `digest_items`. Closing
 * a digest (src/scheduler/digests.ts) marks the held deliveries `digested` and creates the one
 * notification that lists them, in one transaction.
 */

/** When held deliveries are due: never, until their digest closes and replaces them. */
export const HELD_UNTIL = '9999-12-31T00:00:00Z';

/** Where a digest is delivered and how it is rendered: the first item's choices. */
export interface DigestTarget {
  readonly channels: readonly string[];
  /** A template rendering the digest ({key, version?}), else herald's own wording. */
  readonly template: { readonly key: string; readonly version?: number | undefined } | null;
}

// Opening a digest takes the (app, user, key) slot of the unique index `digests_open`; an item
// for a user whose digest is open joins it (the upsert locks that digest row until commit, so a
// closing transaction either sees the item or skips the digest until it can). Users are taken in
// id order so two notifications to overlapping users cannot deadlock.
const OPEN_OR_JOIN = `
  INSERT INTO digests (app_id, user_id, key, closes_at, channels, template, items)
  SELECT * FROM due ORDER BY 2
  ON CONFLICT (app_id, user_id, key) WHERE status = 'open' DO UPDATE SET items = digests.items + 1
  RETURNING id, closes_at`;

/**
 * Collect notification $1 into each recipient's open digest for `key`: its pending deliveries are
 * held, and a recipient without an open digest opens one closing `windowSeconds` from now.
 * Returns the earliest close time of the digests it touched (undefined: nobody to collect for).
 */
export async function collectIntoDigest(db: Queryable, notificationId: string, appId: string, key: string, windowSeconds: number, target: DigestTarget): Promise<Date | undefined> {
  const { rows } = await db.query<{ at: Date | null }>(
    `WITH held AS (
       UPDATE deliveries SET run_at = '${HELD_UNTIL}', due_at = now(), deferred_by = 'digest', updated_at = now()
        WHERE notification_id = $1 AND status = 'pending' AND user_id IS NOT NULL
        RETURNING user_id
     ), due AS (
       SELECT DISTINCT $2::text, user_id, $3::text, now() + make_interval(secs => $4), $5::text[], $6::jsonb, 1 FROM held
     ), d AS (${OPEN_OR_JOIN}
     ), i AS (
       INSERT INTO digest_items (digest_id, notification_id) SELECT id, $1 FROM d
     )
     SELECT min(closes_at) AS at FROM d`,
    [notificationId, appId, key, windowSeconds, target.channels, target.template === null ? null : JSON.stringify(target.template)],
  );
  return rows[0]?.at ?? undefined;
}

/**
 * Collect notification $1 for the recipients who chose a digest for its type in their
 * preferences (`{"cadence": "hourly"}` or `{"cadence": "daily", "at": "09:00"}`): the key is
 * `type:<type key>`, and a digest opened now closes at the next full hour or the next `at` in
 * the user's zone (theirs, else the app's default, else UTC; herald_digest_closes_at, migration
 * 0911). Others are left as they are, and so is a local-time send or one with fallback steps
 * (the caller leaves out those not due yet): collecting it now would deliver it before its time.
 */
export async function collectByPreference(db: Queryable, notificationId: string, channels: readonly string[]): Promise<Date | undefined> {
  const { rows } = await db.query<{ at: Date | null }>(
    `WITH n AS (
       SELECT id, app_id, type FROM notifications
        WHERE id = $1 AND type IS NOT NULL AND local_time IS NULL AND steps IS NULL
     ), chosen AS (
       SELECT p.user_id, herald_digest_closes_at(p.digest, COALESCE(u.timezone, a.default_timezone, 'UTC'), now()) AS closes_at, 'type:' || n.type AS key, n.app_id
         FROM n JOIN user_type_preferences p ON p.app_id = n.app_id AND p.type_key = n.type AND p.digest IS NOT NULL
         JOIN users u ON u.id = p.user_id LEFT JOIN apps a ON a.id = n.app_id
        WHERE p.user_id IN (SELECT user_id FROM deliveries WHERE notification_id = $1 AND status = 'pending')
     ), held AS (
       UPDATE deliveries d SET run_at = '${HELD_UNTIL}', due_at = now(), deferred_by = 'digest', updated_at = now()
         FROM chosen WHERE d.notification_id = $1 AND d.user_id = chosen.user_id AND d.status = 'pending'
        RETURNING d.user_id
     ), due AS (
       SELECT c.app_id, c.user_id, c.key, c.closes_at, $2::text[], NULL::jsonb, 1 FROM chosen c WHERE c.user_id IN (SELECT user_id FROM held)
     ), d AS (${OPEN_OR_JOIN}
     ), i AS (
       INSERT INTO digest_items (digest_id, notification_id) SELECT id, $1 FROM d
     )
     SELECT min(closes_at) AS at FROM d`,
    [notificationId, channels],
  );
  return rows[0]?.at ?? undefined;
}

export interface OpenDigest {
  id: string;
  app_id: string;
  user_id: string;
  key: string;
  opened_at: Date;
  closes_at: Date;
  channels: string[];
  template: DigestTarget['template'];
}

/** A digest whose window has closed, locked for this transaction; other closers skip it. */
export async function claimDueDigest(db: Queryable): Promise<OpenDigest | undefined> {
  const { rows } = await db.query<OpenDigest>(
    `SELECT id::text, app_id, user_id, key, opened_at, closes_at, channels, template FROM digests
      WHERE status = 'open' AND closes_at <= now() ORDER BY closes_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
  );
  return rows[0];
}

export interface DigestItem {
  id: string;
  title: string | null;
  body: string | null;
  created_at: Date;
}

/**
 * The digest's items still held for its user, oldest first, their held deliveries marked
 * `digested` in the same statement. A notification cancelled meanwhile had its held deliveries
 * cancelled and is not listed.
 */
export async function takeItems(db: Queryable, d: OpenDigest): Promise<DigestItem[]> {
  const { rows } = await db.query<DigestItem>(
    `WITH taken AS (
       UPDATE deliveries SET status = 'digested', locked_by = NULL, updated_at = now()
        WHERE notification_id IN (SELECT notification_id FROM digest_items WHERE digest_id = $1)
          AND user_id = $2 AND status = 'pending' AND deferred_by = 'digest'
        RETURNING notification_id
     )
     SELECT n.id, n.payload ->> 'title' AS title, n.payload ->> 'body' AS body, n.created_at
       FROM digest_items i JOIN notifications n ON n.id = i.notification_id
      WHERE i.digest_id = $1 AND n.id IN (SELECT notification_id FROM taken)
      ORDER BY i.seq`,
    [d.id, d.user_id],
  );
  return rows;
}

export async function closeDigest(db: Queryable, id: string, items: number, notificationId: string | null): Promise<void> {
  await db.query(`UPDATE digests SET status = 'closed', closed_at = now(), items = $2, notification_id = $3 WHERE id = $1`, [id, items, notificationId]);
}

/** Milliseconds until the next open digest closes (null: none is open). */
export async function msUntilNextDigest(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ ms: number | null }>(
    `SELECT extract(epoch FROM min(closes_at) - now()) * 1000 AS ms FROM digests WHERE status = 'open'`,
  );
  return rows[0]?.ms ?? null;
}

/** Whether any user of the app chose a digest for this type (then its notifications are created one by one). */
export async function typeHasDigestChoices(db: Queryable, appId: string, type: string): Promise<boolean> {
  const { rows } = await db.query<{ any: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM user_type_preferences WHERE app_id = $1 AND type_key = $2 AND digest IS NOT NULL) AS any`,
    [appId, type],
  );
  return rows[0]?.any ?? false;
}
