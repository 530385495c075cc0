/**
 * The one fan-out rule, as SQL: a notification becomes one delivery per active device of each
 * recipient (`push`, the provider chosen by the device's platform, only devices of the targeted
 * app) and one per other requested channel, minus the channels a user switched off in
 * `preferences.channels` or, for the notification's type, in their per-type choices (a required
type ignores opt-outs). Creation (one notification, or a bulk of them) and a device registered
 * later (joining future notifications) build their statements here, so the rule is written once.
 */

export const PROVIDER_OF_PLATFORM_SQL = `CASE d.platform WHEN 'ios' THEN 'apns' WHEN 'android' THEN 'fcm' ELSE 'webpush' END`;

// Whether user `u` wants channel `channelSql` of notification `n`: their per-channel switches
// ({"channels": {"email": false}}; absent = on), their choices for the notification's type (`p`,
// joined by TYPE_CHOICES) and the type's rule (default channels, required): SQL function
// herald_wants (migrations/0300_audiences.sql, docs/audiences.md).
const PREFERS = (channelSql: string) => `herald_wants(u.preferences, p.channels, n.type_rule, ${channelSql})`;
const TYPE_CHOICES = `LEFT JOIN user_type_preferences p ON p.app_id = n.app_id AND p.user_id = u.id AND p.type_key = n.type`;

const COLUMNS = 'notification_id, user_id, device_id, app_id, channel, provider, due_at, run_at, expires_at';

/** SQL expressions for the notification(s) being fanned out. */
export interface FanOutSource {
  /** FROM items that produce the notification rows, aliased `n` (its type and app choose the preferences). */
  readonly from: string;
  /** Whether the user id in `column` is one of the notification's recipients. */
  readonly isRecipient: (column: string) => string;
  /** More conditions on the notification (and the device, for push). */
  readonly where?: string;
  readonly id: string;
  readonly channels: string;
  readonly targetApp: string;
  readonly sendAt: string;
  readonly expiresAt: string;
  /**
   * The FROM item that gives the recipients as `u` (id, preferences); default the users table.
   * A statement that creates the users in the same breath cannot see them there (one snapshot).
   */
  readonly users?: string;
  /** A later step of a fallback chain (docs/timing.md): its number and condition; the first step has none. */
  readonly step?: { readonly number: string; readonly unless: string };
}

const stepColumns = (s: FanOutSource) => (s.step ? `, ${s.step.number}, ${s.step.unless}` : '');

function fromWith(s: FanOutSource, rest: string): string {
  return `${s.from} CROSS JOIN ${rest} ${TYPE_CHOICES}`;
}

/** One push delivery per active device of each recipient. */
export function pushDeliveriesSql(s: FanOutSource): string {
  return `SELECT ${s.id}, d.user_id, d.id, d.app_id, 'push', ${PROVIDER_OF_PLATFORM_SQL}, ${s.sendAt}, ${s.sendAt}, ${s.expiresAt}${stepColumns(s)}
       FROM ${fromWith(s, `devices d JOIN ${s.users ?? 'users u'} ON u.id = d.user_id`)}
      WHERE ${s.isRecipient('d.user_id')} AND 'push' = ANY (${s.channels}) AND d.status = 'active'
        AND (${s.targetApp} IS NULL OR d.app_id = ${s.targetApp}) AND ${PREFERS(`'push'`)}${s.where ? ` AND ${s.where}` : ''}`;
}

/** One delivery per other requested channel of each recipient. */
export function channelDeliveriesSql(s: FanOutSource): string {
  return `SELECT ${s.id}, u.id, NULL, COALESCE(${s.targetApp}, 'default'), c.ch, c.ch, ${s.sendAt}, ${s.sendAt}, ${s.expiresAt}${stepColumns(s)}
       FROM ${fromWith(s, `${s.users ?? 'users u'} CROSS JOIN LATERAL unnest(${s.channels}) AS c(ch)`)}
      WHERE ${s.isRecipient('u.id')} AND c.ch <> 'push' AND ${PREFERS('c.ch')}${s.where ? ` AND ${s.where}` : ''}`;
}

/** INSERT INTO deliveries from one or more of the SELECTs above. */
export function insertDeliveriesSql(...selects: string[]): string {
  return `INSERT INTO deliveries (${COLUMNS})\n     ${selects.join('\n     UNION ALL\n     ')}`;
}

/** INSERT INTO deliveries the deliveries of later fallback steps (`s.step` set): the same rule, with the step columns. */
export function insertStepDeliveriesSql(s: FanOutSource): string {
  return `INSERT INTO deliveries (${COLUMNS}, step, step_unless)\n     ${pushDeliveriesSql(s)}\n     UNION ALL\n     ${channelDeliveriesSql(s)}`;
}
