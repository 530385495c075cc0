import type { DeferredBy } from '../core/notification.ts';
import type { Queryable } from '../db/pool.ts';
import { EVENT_INSERT, EVENT_INSERT_WITH_ACTOR } from '../events/outbox.ts';
import { eventTypeSql } from '../events/types.ts';
import { currentActor } from '../events/actor.ts';
import type { StoredStep } from './fallback-steps.ts';
import { channelDeliveriesSql, insertDeliveriesSql, pushDeliveriesSql, rawDeviceDeliverySql, RECIPIENT_DUE, type FanOutSource } from './fan-out.ts';

/**
 * Notification SQL: creation with fan-out into deliveries, reads, cancellation and re-drive.
 * Fan-out happens when a notification is created (deliveries wait in the table with their due
 * time), and a device registered later joins the user's future push notifications through
 * `fanOutDevice`, so a far-future notification still reaches devices added in the meantime.
 */


/** The notification $1 (just inserted), to the users $2. */
const ONE: FanOutSource = {
  from: 'notifications n',
  isRecipient: (column) => `${column} = ANY ($2::text[])`,
  where: 'n.id = $1',
};

/** The notification $1 (just inserted), to the one user $2: a key probe, whatever the plan. */
const ONE_USER: FanOutSource = {
  from: 'notifications n',
  isRecipient: (column) => `${column} = $2::text`,
  where: 'n.id = $1',
};

/**
 * The fan-out to one recipient, prepared once per connection (named): planning a statement of
 * some sixty plan nodes for every notification a transaction creates (a reminder's occurrence, a
 * deduplicated or digested notification) cost more than running it. Its recipient is a scalar, so
 * a cached generic plan still probes the users table by key. Several recipients keep a plan made
 * for each array (a generic plan guesses ten of them, whatever the array holds).
 */
const FAN_OUT_ONE_USER = { name: 'herald:fan-out:one-user', text: insertDeliveriesSql(pushDeliveriesSql(ONE_USER), channelDeliveriesSql(ONE_USER)) };
const FAN_OUT_USERS = insertDeliveriesSql(pushDeliveriesSql(ONE), channelDeliveriesSql(ONE));

/** The notifications whose ids are $1, each recipient as t.uid. */
const MANY: FanOutSource = {
  from: 'notifications n CROSS JOIN LATERAL unnest(n.user_ids) AS t(uid)',
  isRecipient: (column) => `${column} = t.uid`,
  where: 'n.id = ANY ($1::text[])',
};

/**
 * The push notifications not come due yet for the user of device $1, for that device only. A
 * local-time notification's send time is the first moment its wall-clock time comes round
 * anywhere (UTC+14), so it is judged by the user's own due time; its send time is then at most
 * 26 hours earlier (UTC-12), the bound that keeps the search on the notifications still to come.
 */
const FUTURE_FOR_DEVICE: FanOutSource = {
  from: 'notifications n',
  isRecipient: (column) => `${column} = ANY (n.user_ids)`,
  where: `d.id = $1 AND n.cancelled_at IS NULL AND n.send_at > now() - interval '27 hours' AND ${RECIPIENT_DUE} > now()
        AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.notification_id = n.id AND x.device_id = d.id)`,
};

export interface NewNotificationRow {
  readonly id: string;
  readonly appId: string;
  readonly targetApp: string | null;
  readonly userIds: readonly string[];
  readonly reminderId: string | null;
  readonly channels: readonly string[];
  readonly payload: unknown;
  readonly sendAt: Date;
  readonly ttlSeconds: number | null;
  readonly expiresAt: Date | null;
  readonly source: string;
  readonly dedupeKey: string | null;
  /** The notification type's key and rule (docs/audiences.md); null without a type. */
  readonly type: string | null;
  readonly typeRule: unknown;
  /** `high`, `normal` or `critical` (goes through quiet hours and caps); null when not given. */
  readonly priority: string | null;
  /** `sendAt: {localTime}` as "YYYY-MM-DDTHH:MM[:SS]": due at that wall-clock time in each recipient's zone. */
  readonly localTime: string | null;
  /** A fallback chain (its first step's channels are `channels`); stored by insertLaterSteps. */
  readonly steps?: readonly StoredStep[] | null;
}

/** Insert the notification; false when its dedupe key was already used. */
export async function insertNotification(db: Queryable, n: NewNotificationRow): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO notifications (id, app_id, target_app, user_ids, reminder_id, channels, payload, send_at, ttl_seconds, expires_at, source, dedupe_key, type, type_rule, priority, local_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14::jsonb, $15, $16::timestamp)
     ON CONFLICT (dedupe_key) DO NOTHING`,
    [n.id, n.appId, n.targetApp, n.userIds, n.reminderId, n.channels, JSON.stringify(n.payload), n.sendAt, n.ttlSeconds, n.expiresAt, n.source, n.dedupeKey, n.type, n.typeRule === null ? null : JSON.stringify(n.typeRule), n.priority, n.localTime],
  );
  return rowCount === 1;
}

export async function findByDedupeKey(db: Queryable, key: string): Promise<{ id: string; send_at: Date } | undefined> {
  const { rows } = await db.query<{ id: string; send_at: Date }>(`SELECT id, send_at FROM notifications WHERE dedupe_key = $1`, [key]);
  return rows[0];
}

export async function ensureUsers(db: Queryable, userIds: readonly string[]): Promise<void> {
  if (userIds.length === 0) return;
  await db.query(`INSERT INTO users (id) SELECT unnest($1::text[]) ON CONFLICT (id) DO NOTHING`, [userIds]);
}

/** One delivery per valid device (push) and per other channel, for every addressed user. */
export async function fanOutUsers(db: Queryable, n: NewNotificationRow): Promise<number> {
  const { rowCount } = n.userIds.length === 1
    ? await db.query({ ...FAN_OUT_ONE_USER, values: [n.id, n.userIds[0]] })
    : await db.query(FAN_OUT_USERS, [n.id, n.userIds]);
  return rowCount ?? 0;
}

/** A notification addressed to one raw device (no user): a single push delivery. */
export async function fanOutRawDevice(db: Queryable, n: NewNotificationRow, provider: string): Promise<number> {
  await db.query(insertDeliveriesSql(rawDeviceDeliverySql('notifications n', '$2::text', 'n.id = $1')), [n.id, provider]);
  return 1;
}

/** A device registered now joins its user's push notifications that have not come due. */
export async function fanOutDevice(db: Queryable, deviceId: string): Promise<number> {
  const { rowCount } = await db.query(insertDeliveriesSql(pushDeliveriesSql(FUTURE_FOR_DEVICE)), [deviceId],
  );
  return rowCount ?? 0;
}

/** Cancel a reminder's notifications that have not come due, with their pending deliveries. */
export async function cancelReminderOccurrences(db: Queryable, reminderId: string): Promise<Array<{ id: string; userIds: string[] }>> {
  const { rows } = await db.query<{ id: string; user_ids: string[] }>(
    `UPDATE notifications SET cancelled_at = now()
      WHERE reminder_id = $1 AND cancelled_at IS NULL AND send_at > now()
      RETURNING id, user_ids`,
    [reminderId],
  );
  if (rows.length === 0) return [];
  await db.query(
    `UPDATE deliveries SET status = 'cancelled', updated_at = now() WHERE notification_id = ANY ($1::text[]) AND status = 'pending'`,
    [rows.map((r) => r.id)],
  );
  return rows.map((r) => ({ id: r.id, userIds: r.user_ids }));
}

/** Cancel what is still pending; returns the cancelled deliveries' notification and user ids. */
export async function cancelPendingWhere(
  db: Queryable,
  where: 'notification' | 'device' | 'user' | 'reminder',
  id: string,
): Promise<Array<{ notification_id: string; user_id: string | null }>> {
  const predicate = {
    notification: `d.notification_id = $1`,
    device: `d.device_id = $1`,
    user: `d.user_id = $1`,
    reminder: `d.notification_id IN (SELECT id FROM notifications WHERE reminder_id = $1)`,
  }[where];
  const { rows } = await db.query<{ notification_id: string; user_id: string | null }>(
    `UPDATE deliveries d SET status = 'cancelled', locked_by = NULL, updated_at = now()
      WHERE ${predicate} AND d.status = 'pending'
      RETURNING d.notification_id, d.user_id`,
    [id],
  );
  return rows;
}

export interface NotificationRow {
  id: string;
  app_id: string;
  target_app: string | null;
  user_ids: string[];
  reminder_id: string | null;
  channels: string[];
  payload: Record<string, unknown>;
  send_at: Date;
  created_at: Date;
  cancelled_at: Date | null;
  source: string | null;
  type: string | null;
  /** `sendAt: {localTime}` as given, "YYYY-MM-DDTHH:MM:SS" (the column is a timestamp without zone). */
  local_time_text: string | null;
  /** A fallback chain as sent (docs/timing.md); null without one. */
  steps: StoredStep[] | null;
}

// Every column, and the local time as text: pg would read a timestamp without zone in the process's zone.
const NOTIFICATION = `*, to_char(local_time, 'YYYY-MM-DD"T"HH24:MI:SS') AS local_time_text`;

export interface DeliveryRow {
  id: string;
  notification_id: string;
  channel: string;
  provider: string;
  user_id: string | null;
  device_id: string | null;
  status: string;
  attempts: number;
  due_at: Date;
  last_error: string | null;
  last_error_detail: string | null;
  provider_id: string | null;
  sent_at: Date | null;
  /** The fallback step it belongs to (0: the first, or a notification without steps). */
  step: number;
  /** The timing rule that decided the delivery's time (docs/timing.md), if any. */
  deferred_by: DeferredBy | null;
}

export async function getNotification(db: Queryable, id: string): Promise<NotificationRow | undefined> {
  const { rows } = await db.query<NotificationRow>(`SELECT ${NOTIFICATION} FROM notifications WHERE id = $1`, [id]);
  return rows[0];
}

/** The deliveries of these notifications; with `userId`, only that user's (a broadcast has one per recipient). */
export async function getDeliveries(db: Queryable, notificationIds: readonly string[], userId?: string): Promise<DeliveryRow[]> {
  const { rows } = await db.query<DeliveryRow>(
    `SELECT id::text AS id, notification_id, channel, provider, user_id, device_id, status, attempts, due_at, last_error, last_error_detail, provider_id, sent_at, deferred_by, step
       FROM deliveries WHERE notification_id = ANY ($1::text[]) AND ($2::text IS NULL OR user_id = $2) ORDER BY deliveries.id`, // qualified: a bare id would sort the text output column
    [notificationIds, userId ?? null],
  );
  return rows;
}

/** `limit + 1` deliveries of a notification after the id `after`, in id order (index deliveries_notification_id). */
export async function getDeliveriesPage(db: Queryable, notificationId: string, status: string | undefined, after: string | undefined, limit: number): Promise<DeliveryRow[]> {
  const { rows } = await db.query<DeliveryRow>(
    `SELECT id::text AS id, notification_id, channel, provider, user_id, device_id, status, attempts, due_at, last_error, last_error_detail, provider_id, sent_at, deferred_by, step
       FROM deliveries WHERE notification_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR id > $3)
      ORDER BY deliveries.notification_id, deliveries.id LIMIT $4`, // qualified: a bare id would sort the text output column
    [notificationId, status ?? null, after ?? null, limit + 1],
  );
  return rows;
}

/**
 * The notifications user $1 received: those addressed to them (`user_ids`, its GIN index) and the
 * broadcasts that made a delivery for them (a broadcast's recipient is whoever its fan-out
 * reached: their deliveries, through the index on `deliveries.user_id`).
 */
const USER_NOTIFICATION_IDS = `SELECT id FROM notifications WHERE $1 = ANY (user_ids)
       UNION
       SELECT d.notification_id FROM deliveries d
        WHERE d.user_id = $1 AND EXISTS (SELECT 1 FROM broadcasts b WHERE b.notification_id = d.notification_id)`;

export async function listForUser(db: Queryable, userId: string, limit: number, offset: number): Promise<{ rows: NotificationRow[]; total: number }> {
  const [page, count] = await Promise.all([
    db.query<NotificationRow>(
      `SELECT ${NOTIFICATION} FROM notifications WHERE id IN (${USER_NOTIFICATION_IDS}) ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`,
      [userId, limit, offset],
    ),
    db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (${USER_NOTIFICATION_IDS}) AS mine`, [userId]),
  ]);
  return { rows: page.rows, total: count.rows[0]?.n ?? 0 };
}

/** Failed (and expired, when asked) deliveries back to pending, due now, with a fresh budget. */
export async function redrive(db: Queryable, notificationId: string, includeExpired: boolean): Promise<Array<{ id: string; user_id: string | null }>> {
  const { rows } = await db.query<{ id: string; user_id: string | null }>(
    `UPDATE deliveries SET status = 'pending', attempts = 0, due_at = now(), run_at = now(), last_error = NULL, last_error_detail = NULL,
            expires_at = CASE WHEN $2 THEN NULL ELSE expires_at END, updated_at = now()
      WHERE notification_id = $1 AND (status = 'failed' OR ($2 AND status = 'expired'))
      RETURNING id::text AS id, user_id`,
    [notificationId, includeExpired],
  );
  return rows;
}

/**
 * The notification rows as the parameter arrays both bulk statements unnest, in this order: id,
 * app_id, target_app, user_ids (joined by U+001F), channels (joined by commas), payload, send_at,
 * ttl, expires_at, source, priority, local_time.
 */
function notificationArrays(rows: readonly NewNotificationRow[]): unknown[][] {
  return [
    rows.map((r) => r.id),
    rows.map((r) => r.appId),
    rows.map((r) => r.targetApp),
    rows.map((r) => r.userIds.join('\x1f')),
    rows.map((r) => r.channels.join(',')),
    rows.map((r) => JSON.stringify(r.payload)),
    rows.map((r) => r.sendAt),
    rows.map((r) => r.ttlSeconds),
    rows.map((r) => r.expiresAt),
    rows.map((r) => r.source),
    rows.map((r) => r.priority),
    rows.map((r) => r.localTime),
  ];
}

/**
 * Bulk creation for user-addressed notifications: the notifications, their deliveries and their
 * events in three statements, whatever the count (bulk loads and benchmarks).
 */
export async function insertBulk(db: Queryable, rows: readonly NewNotificationRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  await db.query(
    `INSERT INTO notifications (id, app_id, target_app, user_ids, reminder_id, channels, payload, send_at, ttl_seconds, expires_at, source, type, type_rule, priority, local_time)
     SELECT v.id, v.app_id, v.target_app, string_to_array(v.user_ids, E'\\x1f'), NULL, string_to_array(v.channels, ','), v.payload::jsonb, v.send_at, v.ttl, v.expires_at, v.source, v.type, v.type_rule::jsonb, v.priority, v.local_time
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::int[], $9::timestamptz[], $10::text[], $11::text[], $12::timestamp[], $13::text[], $14::text[])
         AS v(id, app_id, target_app, user_ids, channels, payload, send_at, ttl, expires_at, source, priority, local_time, type, type_rule)`,
    [
      ...notificationArrays(rows),
      rows.map((r) => r.type),
      rows.map((r) => (r.typeRule === null ? null : JSON.stringify(r.typeRule))),
    ],
  );
  const ids = rows.map((r) => r.id);
  const { rowCount } = await db.query(insertDeliveriesSql(pushDeliveriesSql(MANY), channelDeliveriesSql(MANY)), [ids],
  );
  await db.query(
    `${EVENT_INSERT}
     SELECT t.uid, ${eventTypeSql('notification:created')}, 'notification', n.id,
            jsonb_build_object('sendAt', n.send_at, 'channels', n.channels, 'source', n.source)
       FROM notifications n CROSS JOIN LATERAL unnest(n.user_ids) AS t(uid)
      WHERE n.id = ANY ($1::text[])`,
    [ids],
  );
  return rowCount ?? 0;
}

/** The batch statement's recipients: `r` (one row per notification and user), `u` from `ru`. */
const BATCH: FanOutSource = {
  from: 'r n',
  users: 'ru u',
  isRecipient: (column) => `${column} = n.uid`,
};

/** A row of a batch: a notification to users, or (`provider` set) to one raw device. */
export interface NewBatchRow extends NewNotificationRow {
  readonly provider?: string | undefined;
}

// The input arrays of the statement below, in the order of its `v` columns.
const BATCH_INPUTS = ['$1::text[]', '$2::text[]', '$3::text[]', '$4::text[]', '$5::text[]', '$6::text[]', '$7::timestamptz[]', '$8::int[]', '$9::timestamptz[]', '$10::text[]',
  '$11::text[]', '$12::timestamp[]', '$13::text[]', '$15::text[]', '$16::text[]'];

function batchSql(inputs: string): string {
  return `WITH quiet AS (
       SELECT set_config('herald.events_notify', 'off', true)
     ), v AS (
       SELECT v.id, v.app_id, v.target_app, string_to_array(v.user_ids, E'\\x1f') AS user_ids, string_to_array(v.channels, ',') AS channels,
              v.payload::jsonb AS payload, v.send_at, v.ttl, v.expires_at, v.source, v.priority, v.local_time, v.provider, v.type, v.type_rule::jsonb AS type_rule
         FROM unnest(${inputs})
           AS v(id, app_id, target_app, user_ids, channels, payload, send_at, ttl, expires_at, source, priority, local_time, provider, type, type_rule)
     ), n AS (
       INSERT INTO notifications (id, app_id, target_app, user_ids, reminder_id, channels, payload, send_at, ttl_seconds, expires_at, source, type, type_rule, priority, local_time)
       SELECT id, app_id, target_app, user_ids, NULL, channels, payload, send_at, ttl, expires_at, source, type, type_rule, priority, local_time FROM v
     ), r AS (
       SELECT v.*, t.uid FROM v CROSS JOIN LATERAL unnest(v.user_ids) AS t(uid)
     ), nu AS (
       INSERT INTO users (id) SELECT DISTINCT uid FROM r ORDER BY uid ON CONFLICT (id) DO NOTHING
     ), ru AS (
       SELECT DISTINCT r.uid AS id, x.preferences, x.timezone, x.quiet_hours, x.send_window FROM r LEFT JOIN users x ON x.id = r.uid
     ), d AS (
       ${insertDeliveriesSql(
         pushDeliveriesSql(BATCH),
         channelDeliveriesSql(BATCH),
         rawDeviceDeliverySql('v n', 'n.provider', 'n.provider IS NOT NULL'),
       )}
       RETURNING notification_id
     ), per AS (
       SELECT notification_id, count(*)::int AS n FROM d GROUP BY notification_id
     ), e AS (
       ${EVENT_INSERT_WITH_ACTOR}
       SELECT t.uid, ${eventTypeSql('notification:created')}, 'notification', v.id,
              jsonb_build_object('sendAt', to_char(v.send_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'channels', to_jsonb(v.channels),
                                 'source', v.source, 'deliveries', COALESCE(per.n, 0)),
              $14::text
         FROM v LEFT JOIN per ON per.notification_id = v.id
         CROSS JOIN LATERAL unnest(CASE WHEN cardinality(v.user_ids) = 0 THEN ARRAY[NULL]::text[] ELSE v.user_ids END) AS t(uid)
     ), total AS (
       SELECT COALESCE(sum(n), 0)::int AS deliveries FROM per
     )
     SELECT total.deliveries, (SELECT count(*) FROM quiet) AS quiet FROM total`;
}

/**
 * Two prepared forms of one statement. A batch plans with the arrays' real lengths (PostgreSQL
 * plans a prepared statement afresh for its first executions and keeps a generic plan only when
 * that costs no more). A single notification reads each array through a sub-select: the planner
 * then estimates the same row counts with or without the values, so from the sixth execution on
 * each connection it keeps one generic plan instead of re-planning this large statement on every
 * request (planning cost a third of the database's CPU time per POST).
 */
const INSERT_BATCH_SQL = batchSql(BATCH_INPUTS.join(', '));
const INSERT_ONE_SQL = batchSql(BATCH_INPUTS.map((a) => `(SELECT ${a})`).join(', '));

/**
 * The common single POST, a notification to one user without a type or a local time, as its own
 * lean statement. The batch form above costs PostgreSQL about half a millisecond per execution
 * even with its plan cached, most of it starting the executor over a plan of some sixty nodes
 * (CTE scans, hash joins, the type-choice subplans, the raw-device branch) and a sequential scan
 * of `users` that its estimate of ten recipients made cheaper than index probes. Here the
 * notification is parameters (`n` a one-row sub-select the planner flattens), the recipient is
 * one primary-key probe, the untyped, UTC-less columns are NULL literals the planner folds away
 * (herald_wants and herald_quiet_applies inline to their untyped branch), and only the fan-out
 * branches the channels need are planned: push (devices), the other channels, or both. The same
 * fan-out rule (fan-out.ts), the same rows and the same event as insertBatch writes.
 */
const LEAN_ONE: FanOutSource = {
  from: `(SELECT $1::text AS id, $2::text AS app_id, $3::text AS target_app, string_to_array($5::text, ',') AS channels, $6::timestamptz AS send_at,
                 $8::timestamptz AS expires_at, $10::text AS priority, NULL::text AS type, NULL::jsonb AS type_rule, NULL::timestamp AS local_time) n`,
  users: `(SELECT $4::text AS id, x.preferences, x.timezone, x.quiet_hours, x.send_window FROM (VALUES (1)) AS one LEFT JOIN users x ON x.id = $4::text) u`,
  isRecipient: (column) => `${column} = $4::text`,
};

function leanOneSql(push: boolean, other: boolean): string {
  const selects = [...(push ? [pushDeliveriesSql(LEAN_ONE)] : []), ...(other ? [channelDeliveriesSql(LEAN_ONE)] : [])];
  return `WITH quiet AS (
       SELECT set_config('herald.events_notify', 'off', true)
     ), n AS (
       INSERT INTO notifications (id, app_id, target_app, user_ids, channels, payload, send_at, ttl_seconds, expires_at, source, priority)
       VALUES ($1, $2, $3, ARRAY[$4::text], string_to_array($5::text, ','), $11::jsonb, $6, $7, $8, $9, $10)
     ), nu AS (
       INSERT INTO users (id) VALUES ($4) ON CONFLICT (id) DO NOTHING
     ), d AS (
       ${insertDeliveriesSql(...selects)}
       RETURNING 1
     ), total AS (
       SELECT count(*)::int AS deliveries FROM d
     ), e AS (
       ${EVENT_INSERT_WITH_ACTOR}
       SELECT $4::text, ${eventTypeSql('notification:created')}, 'notification', $1::text,
              jsonb_build_object('sendAt', to_char($6::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'channels', to_jsonb(string_to_array($5::text, ',')),
                                 'source', $9::text, 'deliveries', total.deliveries),
              $12::text
         FROM total
     )
     SELECT total.deliveries, (SELECT count(*) FROM quiet) AS quiet FROM total`;
}

const LEAN_ONE_SQL = new Map<string, string>();
for (const push of [false, true]) for (const other of [false, true]) LEAN_ONE_SQL.set(`${push ? 'p' : ''}${other ? 'c' : ''}`, leanOneSql(push, other));

/** The lean statement's form for this row (its channels' branches), or undefined when the row needs the general statement. */
function leanForm(r: NewBatchRow): string | undefined {
  if (r.provider !== undefined || r.userIds.length !== 1 || r.type !== null || r.typeRule !== null || r.localTime !== null || r.channels.length === 0) return undefined;
  const push = r.channels.includes('push');
  const other = r.channels.some((c) => c !== 'push');
  return `${push ? 'p' : ''}${other ? 'c' : ''}`;
}

/**
 * Notifications (one, or a batch) in ONE statement, so one round trip and its own transaction:
 * the notification rows, their recipients as users, their deliveries (fan-out to the users'
 * devices and other channels, or the raw device), one `notification:created` event per
 * recipient with the notification's delivery count. The CTEs read the input arrays, not each
 * other's rows, since they all see the same snapshot. Nothing is NOTIFYed (the events trigger
 * is told not to, migration 0800): the caller wakes workers and relay after commit
 * (WakeupCoalescer), so call it as its own transaction, not inside a longer one.
 * New users are inserted in id order, so two such statements creating the same new users lock
 * them in the same order and cannot deadlock. `actor`: who the events say acted (by default the
 * current request's caller). Returns the number of deliveries created.
 */
export async function insertBatch(db: Queryable, rows: readonly NewBatchRow[], actor: string | null = currentActor()): Promise<number> {
  if (rows.length === 0) return 0;
  const form = rows.length === 1 ? leanForm(rows[0]!) : undefined;
  if (form !== undefined) {
    const r = rows[0]!;
    const { rows: out } = await db.query<{ deliveries: number }>({
      name: `herald:notifications:insert-lean-${form}`,
      text: LEAN_ONE_SQL.get(form)!,
      values: [r.id, r.appId, r.targetApp, r.userIds[0], r.channels.join(','), r.sendAt, r.ttlSeconds, r.expiresAt, r.source, r.priority, JSON.stringify(r.payload), actor],
    });
    return out[0]?.deliveries ?? 0;
  }
  const { rows: out } = await db.query<{ deliveries: number }>({
    name: rows.length === 1 ? 'herald:notifications:insert-one' : 'herald:notifications:insert-batch',
    text: rows.length === 1 ? INSERT_ONE_SQL : INSERT_BATCH_SQL,
    values: [
      ...notificationArrays(rows),
      rows.map((r) => r.provider ?? null),
      actor,
      rows.map((r) => r.type),
      rows.map((r) => (r.typeRule === null ? null : JSON.stringify(r.typeRule))),
    ],
  });
  return out[0]?.deliveries ?? 0;
}
