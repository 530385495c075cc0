/**
 * The one fan-out rule, as SQL: a notification becomes one delivery per active device of each
 * recipient (`push`, the provider chosen by the device's platform, only devices of the targeted
 * app) and one per other requested channel, minus the channels a user switched off in
 * `preferences.channels` or, for the notification's type, in their per-type choices (a required
 * type ignores opt-outs). Creation (one notification, or a bulk of them) and a device registered
 * later (joining future notifications) build their statements here, so the rule is written once.
 *
 * Each delivery also gets its own due time here (docs/timing.md): a `localTime` notification is
 * due at that wall-clock time in the recipient's zone, and a push or e-mail due inside the
 * recipient's quiet hours waits for the window's end, and one due outside their send window for its
 * next opening; `deferred_by` records which rule decided.
 * Every source's `n` carries the notification's columns (app_id, channels, target_app, send_at,
 * expires_at, type, type_rule, priority, local_time) and `u` the user's (id, preferences,
 * timezone, quiet_hours, send_window).
 */

export const PROVIDER_OF_PLATFORM_SQL = `CASE d.platform WHEN 'ios' THEN 'apns' WHEN 'android' THEN 'fcm' ELSE 'webpush' END`;

// Whether user `u` wants channel `channelSql` of notification `n`: their per-channel switches
// ({"channels": {"email": false}}; absent = on), their choices for the notification's type and
// the type's rule (default channels, required): SQL function herald_wants (migrations/0300_audiences.sql,
// docs/audiences.md). The choices are a scalar subquery (one primary-key probe) rather than a
// join: herald_wants is inlined as a CASE, which reaches them only for a typed notification whose
// type is not required, so an untyped notification never reads user_type_preferences, and a
// typed one probes the index per recipient instead of hashing the whole table per statement.
const TYPE_CHOICES = `(SELECT p.channels FROM user_type_preferences p WHERE p.app_id = n.app_id AND p.user_id = u.id AND p.type_key = n.type)`;
const PREFERS = (channelSql: string) => `herald_wants(u.preferences, ${TYPE_CHOICES}, n.type_rule, ${channelSql})`;
// The app's timing defaults (zone, quiet hours): one primary-key lookup per notification.
const APP_DEFAULTS = `LEFT JOIN apps a ON a.id = n.app_id`;

// The recipient's zone and quiet hours: their own, else the app's default; UTC and none after that.
const ZONE = `COALESCE(u.timezone, a.default_timezone, 'UTC')`;
const QUIET = `COALESCE(u.quiet_hours, a.quiet_hours)`;
const WINDOW = `COALESCE(u.send_window, a.send_window)`;

// The due time before quiet hours: the send time, or the local time in the recipient's zone (not
// before the send time: a recipient whose 09:00 has passed gets it at once).
const BASE_DUE = (zone: string) => `CASE WHEN n.local_time IS NULL THEN n.send_at ELSE greatest(n.local_time AT TIME ZONE ${zone}, n.send_at) END`;

/**
 * When the notification `n` comes due for the recipient `u` (before quiet hours): its send time,
 * or its local time in their zone. For a condition in a fan-out's `where` (`u` and the app are
 * in scope there).
 */
export const RECIPIENT_DUE = BASE_DUE(ZONE);

// The end of the quiet window the delivery would fall in; NULL when it may go (outside every
// window, no quiet hours, or herald_quiet_applies says no: inbox and webhook, critical, required
// types; migration 0902). The CASE keeps users without quiet hours off the function call.
const QUIET_END = (channelSql: string, base: string) => `CASE WHEN ${QUIET} IS NOT NULL AND herald_quiet_applies(${channelSql}, n.priority, n.type_rule)
           THEN herald_quiet_end(${QUIET}, ${ZONE}, ${base}) END`;

// When the delivery may go under the recipient's send window, quiet hours taken into account
// (herald_window_due, migration 0903): `base` itself when nothing holds it; NULL when no send
// window applies (none set, or the same exemptions as quiet hours), so users without one never
// call it.
const WINDOW_DUE = (channelSql: string, base: string) => `CASE WHEN ${WINDOW} IS NOT NULL AND herald_quiet_applies(${channelSql}, n.priority, n.type_rule)
           THEN herald_window_due(${QUIET}, ${WINDOW}, ${ZONE}, ${base}) END`;

/**
 * The columns every SELECT below gives, in order, for insertDeliveriesSql: the delivery's own
 * columns, then the notification's send time and expiry, the due time before quiet hours
 * (`base`), the quiet window's end (`quiet_end`, NULL when not deferred), when the send window
 * lets it go (`window_due`, NULL when none applies) and whether a local time decided `base`.
 */
export const SELECT_COLUMNS = 'notification_id, user_id, device_id, app_id, channel, provider, send_at, expires_at, base, quiet_end, window_due, local';

/** SQL expressions for the notification(s) being fanned out. */
export interface FanOutSource {
  /** FROM items that produce the notification rows, aliased `n` (its type and app choose the preferences). */
  readonly from: string;
  /** Whether the user id in `column` is one of the notification's recipients. */
  readonly isRecipient: (column: string) => string;
  /** More conditions on the notification (and the device, for push). */
  readonly where?: string;
  /**
   * The FROM item that gives the recipients as `u` (id, preferences, timezone, quiet_hours, send_window);
   * default the users table. A statement that creates the users in the same breath cannot see
   * them there (one snapshot).
   */
  readonly users?: string;
  /** The channels to fan out to (SQL text[]); default the notification's. */
  readonly channels?: string;
  /**
   * How long after the notification's own due time (its send time, or its local time in the
   * recipient's zone) these deliveries are due, as an SQL interval; quiet hours then apply to
   * that time, and the expiry moves with it. Default none.
   */
  readonly delay?: string;
  /** A later step of a fallback chain (docs/timing.md): its number and condition; the first step has none. */
  readonly step?: { readonly number: string; readonly unless: string };
}

const stepColumns = (s: FanOutSource) => (s.step ? `, ${s.step.number}, ${s.step.unless}` : '');

function fromWith(s: FanOutSource, rest: string): string {
  return `${s.from} ${APP_DEFAULTS} CROSS JOIN ${rest}`;
}

const timing = (s: FanOutSource, channelSql: string) => {
  const base = s.delay ? `${BASE_DUE(ZONE)} + ${s.delay}` : BASE_DUE(ZONE);
  return `n.send_at, n.expires_at, ${base}, ${QUIET_END(channelSql, base)}, ${WINDOW_DUE(channelSql, base)}, n.local_time IS NOT NULL`;
};

/** One push delivery per active device of each recipient. */
export function pushDeliveriesSql(s: FanOutSource): string {
  return `SELECT n.id, d.user_id, d.id, d.app_id, 'push', ${PROVIDER_OF_PLATFORM_SQL}, ${timing(s, `'push'`)}${stepColumns(s)}
       FROM ${fromWith(s, `devices d JOIN ${s.users ?? 'users u'} ON u.id = d.user_id`)}
      WHERE ${s.isRecipient('d.user_id')} AND 'push' = ANY (${s.channels ?? 'n.channels'}) AND d.status = 'active'
        AND (n.target_app IS NULL OR d.app_id = n.target_app) AND ${PREFERS(`'push'`)}${s.where ? ` AND ${s.where}` : ''}`;
}

/** One delivery per other requested channel of each recipient. */
export function channelDeliveriesSql(s: FanOutSource): string {
  return `SELECT n.id, u.id, NULL, COALESCE(n.target_app, 'default'), c.ch, c.ch, ${timing(s, 'c.ch')}${stepColumns(s)}
       FROM ${fromWith(s, `${s.users ?? 'users u'} CROSS JOIN LATERAL unnest(${s.channels ?? 'n.channels'}) AS c(ch)`)}
      WHERE ${s.isRecipient('u.id')} AND c.ch <> 'push' AND ${PREFERS('c.ch')}${s.where ? ` AND ${s.where}` : ''}`;
}

/**
 * A raw device's push (no user, so no quiet hours or send window): a local time is read in the app's default
 * zone, else UTC. `from` gives the notification as `n`.
 */
export function rawDeviceDeliverySql(from: string, provider: string, where: string): string {
  return `SELECT n.id, NULL, NULL, n.app_id, 'push', ${provider}, n.send_at, n.expires_at,
            ${BASE_DUE(`COALESCE(a.default_timezone, 'UTC')`)}, NULL::timestamptz, NULL::timestamptz, n.local_time IS NOT NULL
       FROM ${from} ${APP_DEFAULTS} WHERE ${where}`;
}

// The send window's time includes quiet hours; without a window, quiet hours alone.
const DUE = 'COALESCE(t.window_due, t.quiet_end, t.base)';

function insertSql(selects: readonly string[], stepped: boolean): string {
  const extra = stepped ? ', step, step_unless' : '';
  return `INSERT INTO deliveries (notification_id, user_id, device_id, app_id, channel, provider, due_at, run_at, expires_at, deferred_by${extra})
     SELECT t.notification_id, t.user_id, t.device_id, t.app_id, t.channel, t.provider, ${DUE}, ${DUE}, t.expires_at + (${DUE} - t.send_at),
            CASE WHEN t.window_due > COALESCE(t.quiet_end, t.base) THEN 'send-window' WHEN t.quiet_end IS NOT NULL THEN 'quiet-hours' WHEN t.local THEN 'local-time' END${stepped ? ', t.step, t.step_unless' : ''}
       FROM (${selects.join('\n     UNION ALL\n     ')}
             OFFSET 0) AS t(${SELECT_COLUMNS}${extra})`;
}

/**
 * INSERT INTO deliveries from one or more of the SELECTs above. The due time is worked out once
 * per row in the inner query (OFFSET 0 keeps the planner from copying the quiet-hours call into
 * each column that uses it); a deferred delivery keeps its time to live, so its expiry moves
 * with it.
 */
export function insertDeliveriesSql(...selects: string[]): string {
  return insertSql(selects, false);
}

/** INSERT INTO deliveries the deliveries of later fallback steps (`s.step` set): the same rule, with the step columns. */
export function insertStepDeliveriesSql(s: FanOutSource): string {
  return insertSql([pushDeliveriesSql(s), channelDeliveriesSql(s)], true);
}
