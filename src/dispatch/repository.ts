import type { Pool, Queryable } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import type { DeliveryJob, Provider, NotificationContent, Platform, WebPushSubscription } from '../channels/types.ts';
import { EVENT_INSERT } from '../events/outbox.ts';
import { eventTypeSql } from '../events/types.ts';
import { markDevicesInvalid } from '../devices/repository.ts';
import { notifyDeliveriesDue } from '../db/wakeup.ts';
import { STEP_OUTCOME_CTES, STEP_OUTCOME_EVENTS } from './fallback-repository.ts';

/**
 * The work-queue SQL. A claim takes due rows with FOR UPDATE SKIP LOCKED and leases them
 * (status sending, run_at = lease end); a worker that dies leaves rows whose lease runs out and
 * the next claim takes them again. Outcomes are written in small slices, each one statement with
 * its events, so a crash re-sends at most what was in flight.
 */

export interface ClaimedDelivery extends DeliveryJob {
  /**
   * The notification's app: its types, and so its frequency caps. `appId` is the delivery's (a
   * push delivery's is its device's app, which may be another). Absent in jobs published before
   * this field existed: the delivery's app then.
   */
  readonly notificationAppId?: string | undefined;
  /** Why the row must not be sent at all (device gone or invalid): recorded as cancelled. */
  readonly skipReason?: string | undefined;
  readonly userId: string | null;
  readonly deviceId: string | null;
  readonly channel: string;
  /** A later step of a fallback chain (> 0) is checked before it is sent (fallback-step.ts). */
  readonly step?: number | undefined;
}

interface ClaimRow {
  id: string;
  notification_id: string;
  user_id: string | null;
  device_id: string | null;
  app_id: string;
  channel: string;
  provider: Provider;
  due_at: Date;
  expires_at: Date | null;
  attempts: number;
  /** Only on the first claimed row of each notification (null on the others). */
  payload: Record<string, unknown> | null;
  notification_app_id: string;
  reminder_id: string | null;
  cancelled_at: Date | null;
  platform: Platform | null;
  token: string | null;
  subscription: WebPushSubscription | null;
  environment: 'production' | 'development' | null;
  registered_at: Date | null;
  device_status: string | null;
  email: string | null;
  name: string | null;
  locale: string | null;
  timezone: string | null;
  step: number;
}

export async function claimDue(
  db: Queryable,
  workerId: string,
  limit: number,
  leaseSeconds: number,
  providers: readonly Provider[] | undefined,
): Promise<ClaimedDelivery[]> {
  const { rows } = await db.query<ClaimRow>({
    // Prepared once per connection: the claim runs hundreds of times a second in a burst.
    name: 'herald:dispatch:claim',
    // The claimed ids go in as an array and the lookups are LATERAL: with a large due backlog
    // the planner would otherwise hash-join the batch against whole tables (a sequential scan
    // of every pending delivery and notification per claim).
    text: `WITH claimed AS (
       UPDATE deliveries d
          SET status = 'sending', run_at = now() + make_interval(secs => $3), locked_by = $1,
              attempts = d.attempts + 1, updated_at = now()
        WHERE d.id = ANY (ARRAY(
                SELECT id FROM deliveries
                 WHERE status IN ('pending', 'sending') AND run_at <= now()
                   AND ($4::text[] IS NULL OR provider = ANY ($4::text[]))
                 ORDER BY run_at
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED))
       RETURNING d.id, d.notification_id, d.user_id, d.device_id, d.app_id, d.channel, d.provider,
                 d.due_at, d.expires_at, d.attempts, d.step)
     SELECT c.id::text AS id, c.notification_id, c.user_id, c.device_id, c.app_id, c.channel, c.provider,
            c.due_at, c.expires_at, c.attempts, c.step,
            -- A notification's payload once per claim (its first row): a broadcast's rows share
            -- it, and writing and parsing it again for each of them was PostgreSQL's and the
            -- worker's work for nothing.
            CASE WHEN c.id = min(c.id) OVER (PARTITION BY c.notification_id) THEN n.payload END AS payload,
            n.app_id AS notification_app_id, n.reminder_id, n.cancelled_at,
            v.platform, v.token, v.subscription, v.environment, v.registered_at, v.status AS device_status,
            u.email, u.name, u.locale, u.timezone
       FROM claimed c
       CROSS JOIN LATERAL (SELECT payload, app_id, reminder_id, cancelled_at FROM notifications WHERE id = c.notification_id) n
       LEFT JOIN LATERAL (SELECT platform, token, subscription, environment, registered_at, status FROM devices WHERE id = c.device_id) v ON true
       LEFT JOIN LATERAL (SELECT email, name, locale, timezone FROM users WHERE id = c.user_id) u ON true`,
    values: [workerId, limit, leaseSeconds, providers && providers.length > 0 ? providers : null],
  });
  // One content object per notification, shared by its rows (the channels never change it: a
  // render step makes a new one).
  const contents = new Map<string, ClaimedContent>();
  for (const r of rows) if (r.payload) contents.set(r.notification_id, splitPayload(r.payload));
  return rows.map((r) => toJob(r, contents.get(r.notification_id)!));
}

type PayloadTo = { device?: { platform: Platform; token?: string; subscription?: WebPushSubscription; environment?: 'production' | 'development' } };
interface ClaimedContent {
  readonly to: PayloadTo | undefined;
  readonly content: NotificationContent;
}

function splitPayload(payload: Record<string, unknown>): ClaimedContent {
  const { to, ...content } = payload as Record<string, unknown> & { to?: PayloadTo };
  return { to, content: content as NotificationContent };
}

function toJob(r: ClaimRow, { to, content }: ClaimedContent): ClaimedDelivery {
  let device: DeliveryJob['device'];
  let skipReason: string | undefined;
  if (r.device_id) {
    if (!r.platform) skipReason = 'the device was removed';
    else if (r.device_status !== 'active') skipReason = 'the device is invalid';
    else {
      device = {
        id: r.device_id,
        platform: r.platform,
        token: r.token ?? '',
        environment: r.environment ?? undefined,
        subscription: r.subscription ?? undefined,
        registeredAt: r.registered_at ?? undefined,
      };
    }
  } else if (to?.device) {
    const d = to.device;
    device = { id: undefined, platform: d.platform, token: d.token ?? d.subscription?.endpoint ?? '', environment: d.environment, subscription: d.subscription };
  }
  if (r.cancelled_at) skipReason = 'the notification was cancelled';
  return {
    id: r.id,
    notificationId: r.notification_id,
    provider: r.provider,
    appId: r.app_id,
    notificationAppId: r.notification_app_id,
    attempt: r.attempts,
    dueAt: r.due_at,
    expiresAt: r.expires_at ?? undefined,
    user: r.user_id ? { id: r.user_id, email: r.email ?? undefined, name: r.name ?? undefined, locale: r.locale ?? undefined, timezone: r.timezone ?? undefined } : undefined,
    device,
    content,
    reminderId: r.reminder_id ?? undefined,
    skipReason,
    userId: r.user_id,
    deviceId: r.device_id,
    channel: r.channel,
    ...(r.step > 0 ? { step: r.step } : {}),
  };
}

/**
 * What the worker decided for one claimed delivery. `error` may be shown to the delivery's end
 * user; `detail` (a provider's answer, a network error) only to operators.
 */
export type Outcome =
  | { readonly id: string; readonly kind: 'sent'; readonly providerId?: string | undefined }
  | { readonly id: string; readonly kind: 'retry'; readonly error: string; readonly detail?: string | undefined; readonly delayMs: number }
  | { readonly id: string; readonly kind: 'failed' | 'expired' | 'cancelled'; readonly error: string; readonly detail?: string | undefined }
  | { readonly id: string; readonly kind: 'device-invalid'; readonly error: string; readonly detail?: string | undefined; readonly deviceId: string | null }
  /** Recorded already by a step before the send (a frequency cap deferred or dropped it): nothing to write. */
  | { readonly id: string; readonly kind: 'settled'; readonly as: 'deferred' | 'capped'; readonly until?: Date | undefined };

/** The outcomes the outcome writer records. */
type Recordable = Exclude<Outcome, { kind: 'settled' }>;

const EVENT_OF = {
  sent: eventTypeSql('notification:sent'),
  failed: eventTypeSql('notification:failed'),
  expired: eventTypeSql('notification:expired'),
};

/** The longest retry delay a row is written with (a provider's Retry-After is clamped before). */
export const MAX_RETRY_DELAY_MS = 24 * 3600_000;
/** Used when a retry delay is not a usable number, and for a row whose outcome could not be written. */
const FALLBACK_RETRY_MS = 60_000;
const BIGINT_ID = /^[1-9]\d{0,18}$/;

/** Text PostgreSQL will take: no NUL (text columns refuse it), bounded length. */
function cleanText(value: string | undefined, max: number): string | undefined {
  if (value === undefined) return undefined;
  const text = value.replace(/\u0000/g, '');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Make every value of an outcome writable, so no single outcome can fail the statement that
 * records its whole slice: a delay that is not a finite number in range, an error or provider
 * answer with NUL bytes or of any length. An id that is not a delivery id (a forged broker
 * message) has nothing to record and is dropped.
 */
function sanitise(o: Recordable): Recordable | undefined {
  if (!BIGINT_ID.test(o.id)) return undefined;
  if (o.kind === 'sent') return { id: o.id, kind: 'sent', providerId: cleanText(o.providerId, 1000) };
  const error = cleanText(o.error, 2000) ?? '';
  const detail = cleanText(o.detail, 1000);
  if (o.kind === 'retry') {
    const delayMs = Number.isFinite(o.delayMs) && o.delayMs >= 0 ? Math.min(o.delayMs, MAX_RETRY_DELAY_MS) : FALLBACK_RETRY_MS;
    return { id: o.id, kind: 'retry', error, detail, delayMs };
  }
  if (o.kind === 'device-invalid') return { id: o.id, kind: 'device-invalid', error, detail, deviceId: o.deviceId };
  return { id: o.id, kind: o.kind, error, detail };
}

/**
 * SQLSTATE classes that mean "these values", not "the database": 22 data exception (a value out
 * of range, a bad byte sequence), 23 integrity constraint, 54 program limit. Anything else — a
 * lost connection, a shutdown — is an outage the caller waits out and retries whole.
 */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|54)[0-9A-Z]{3}$/.test(code);
}

/**
 * Record a slice of outcomes: one statement updates the rows still leased (status sending) and
 * appends their events, so the change and its events commit together. Device verdicts also
 * invalidate the device and cancel what else was pending for it, in the same transaction.
 *
 * One outcome must never fail the others: values are sanitised first, and should the slice's
 * statement still fail on its data, each outcome is written alone (rows already written are no
 * longer `sending`, so writing again is a no-op); one that fails alone is written as a plain
 * retry. Returns the ids that could not be recorded at all (normally none): their leases run
 * out and they are sent again. Throws on an outage, for the caller to retry.
 */
export async function recordOutcomes(pool: Pool, outcomes: readonly Outcome[]): Promise<string[]> {
  const unrecorded: string[] = [];
  const safe: Recordable[] = [];
  for (const o of outcomes) {
    if (o.kind === 'settled') continue;
    const clean = sanitise(o);
    if (clean) safe.push(clean);
    else unrecorded.push(o.id);
  }
  if (safe.length === 0) return unrecorded;
  try {
    await writeOutcomes(pool, safe);
    return unrecorded;
  } catch (err) {
    if (!isDataError(err)) throw err;
  }
  for (const o of safe) {
    try {
      await writeOutcomes(pool, [o]);
    } catch (err) {
      if (!isDataError(err)) throw err;
      try {
        await writeOutcomes(pool, [{ id: o.id, kind: 'retry', error: 'herald could not record the outcome of this attempt; sending again', delayMs: FALLBACK_RETRY_MS }]);
      } catch (again) {
        if (!isDataError(again)) throw again;
        unrecorded.push(o.id);
      }
    }
  }
  return unrecorded;
}

async function writeOutcomes(pool: Pool, outcomes: readonly Recordable[]): Promise<void> {
  const ids: string[] = [], kinds: string[] = [], providerIds: Array<string | null> = [], errors: Array<string | null> = [], details: Array<string | null> = [], delays: number[] = [];
  for (const o of outcomes) {
    ids.push(o.id);
    kinds.push(o.kind === 'device-invalid' ? 'failed' : o.kind);
    providerIds.push(o.kind === 'sent' ? (o.providerId ?? null) : null);
    errors.push(o.kind === 'sent' ? null : o.error);
    details.push(o.kind === 'sent' ? null : (o.detail ?? null));
    delays.push(o.kind === 'retry' ? o.delayMs : 0);
  }
  const invalid = outcomes.filter((o): o is Extract<Recordable, { kind: 'device-invalid' }> => o.kind === 'device-invalid' && o.deviceId !== null);
  const run = async (db: Queryable) => {
    const { rows: forwarded } = await db.query<{ forwarded: number }>({
      name: 'herald:dispatch:record-outcomes',
      // The one-time filter turns off the events trigger's NOTIFY for this transaction (migration
      // 0800): a NOTIFY inside it would hold PostgreSQL's global notify lock through the commit
      // flush and make concurrent slices commit one at a time. The outcome writer wakes the
      // relay after commit instead.
      text: `WITH v AS (
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::text[]) AS v(id, kind, provider_id, error, delay_ms, detail)
          WHERE (SELECT set_config('herald.events_notify', 'off', true)) = 'off'),
       upd AS (
         UPDATE deliveries d
            SET status = CASE v.kind WHEN 'retry' THEN 'pending' ELSE v.kind END,
                sent_at = CASE WHEN v.kind = 'sent' THEN now() ELSE d.sent_at END,
                provider_id = COALESCE(v.provider_id, d.provider_id),
                last_error = v.error,
                last_error_detail = v.detail,
                due_at = CASE WHEN v.kind = 'retry' THEN now() + v.delay_ms * interval '1 millisecond' ELSE d.due_at END,
                run_at = CASE WHEN v.kind = 'retry' THEN now() + v.delay_ms * interval '1 millisecond' ELSE d.run_at END,
                locked_by = NULL, updated_at = now()
           FROM v
          WHERE d.id = v.id AND d.status = 'sending'
         RETURNING d.id, d.notification_id, d.user_id, d.device_id, d.channel, d.provider, d.status, d.attempts, d.provider_id, d.last_error, d.step),
       ${STEP_OUTCOME_CTES},
       ev AS (
       ${EVENT_INSERT}
       SELECT upd.user_id,
              CASE upd.status WHEN 'sent' THEN ${EVENT_OF.sent} WHEN 'failed' THEN ${EVENT_OF.failed} ELSE ${EVENT_OF.expired} END,
              'notification', upd.notification_id,
              jsonb_strip_nulls(jsonb_build_object('deliveryId', upd.id::text, 'channel', upd.channel, 'provider', upd.provider,
                'deviceId', upd.device_id, 'attempts', upd.attempts, 'providerId', upd.provider_id,
                'error', CASE WHEN upd.status = 'sent' THEN NULL ELSE upd.last_error END))
         FROM upd WHERE upd.status IN ('sent', 'failed', 'expired')
       UNION ALL
       ${STEP_OUTCOME_EVENTS})
       SELECT (SELECT count(*) FROM steps_forward)::int AS forwarded`,
      values: [ids, kinds, providerIds, errors, delays, details],
    });
    // Fallback steps brought forward are due now: wake a worker (one that is idle sleeps until their old due time).
    if ((forwarded[0]?.forwarded ?? 0) > 0) await notifyDeliveriesDue(db, new Date());
    if (invalid.length > 0) await invalidateDevices(db, invalid.map((o) => ({ deviceId: o.deviceId!, reason: o.error })));
  };
  if (invalid.length === 0) await run(pool);
  else await withTransaction(pool, run);
}

async function invalidateDevices(db: Queryable, devices: ReadonlyArray<{ deviceId: string; reason: string }>): Promise<void> {
  const rows = await markDevicesInvalid(db, devices);
  if (rows.length === 0) return;
  await db.query(
    `UPDATE deliveries SET status = 'cancelled', last_error = 'the device is invalid', updated_at = now()
      WHERE device_id = ANY ($1::text[]) AND status = 'pending'`,
    [rows.map((r) => r.id)],
  );
  await db.query(
    `${EVENT_INSERT}
     SELECT user_id, ${eventTypeSql('device:invalidated')}, 'device', id, jsonb_build_object('reason', reason)
       FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, user_id, reason)`,
    [rows.map((r) => r.id), rows.map((r) => r.user_id), rows.map((r) => r.invalid_reason)],
  );
}

/** When the next row becomes runnable (pending due time or lease end), for the wake-up timer. */
export async function nextRunAt(db: Queryable, providers: readonly Provider[] | undefined): Promise<Date | undefined> {
  const { rows } = await db.query<{ at: Date | null }>(
    `SELECT min(run_at) AS at FROM deliveries
      WHERE status IN ('pending', 'sending') AND ($1::text[] IS NULL OR provider = ANY ($1::text[]))`,
    [providers && providers.length > 0 ? providers : null],
  );
  return rows[0]?.at ?? undefined;
}

/**
 * Extend the leases of rows still in flight in a live worker. A lease is the safety net for a
 * worker that vanished without its liveness lock being noticed; a worker that is merely slow
 * (a starved CPU, a slow provider) must not lose its rows to another claim and have them sent twice.
 */
export async function renewLeases(db: Queryable, workerId: string, ids: readonly string[], leaseSeconds: number): Promise<number> {
  if (ids.length === 0) return 0;
  const { rowCount } = await db.query(
    `UPDATE deliveries SET run_at = now() + make_interval(secs => $3)
      WHERE id = ANY ($1::bigint[]) AND status = 'sending' AND locked_by = $2
        AND run_at < now() + make_interval(secs => $3 / 2.0)`,
    [ids, workerId, leaseSeconds],
  );
  return rowCount ?? 0;
}

/** Give back leased rows on shutdown so another worker takes them at once. */
export async function releaseLeases(db: Queryable, workerId: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    `UPDATE deliveries SET status = 'pending', run_at = now(), attempts = greatest(attempts - 1, 0), locked_by = NULL, updated_at = now()
      WHERE id = ANY ($1::bigint[]) AND status = 'sending' AND locked_by = $2`,
    [ids, workerId],
  );
}

export interface Backlog {
  readonly due: number;
  readonly oldestDueSeconds: number;
}

export async function backlog(db: Queryable): Promise<Backlog> {
  const { rows } = await db.query<{ due: number; oldest: number | null }>(
    `SELECT count(*)::int AS due, extract(epoch FROM now() - min(due_at))::float8 AS oldest
       FROM deliveries WHERE status = 'pending' AND run_at <= now()`,
  );
  return { due: rows[0]?.due ?? 0, oldestDueSeconds: Math.max(0, rows[0]?.oldest ?? 0) };
}
