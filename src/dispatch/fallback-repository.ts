import type { Queryable } from '../db/pool.ts';
import { EVENT_INSERT } from '../events/outbox.ts';
import { eventTypeSql } from '../events/types.ts';

/**
 * The engine's SQL for fallback chains (docs/timing.md § Fallback chains). A later step's
 * deliveries wait as pending rows (src/notifications/fallback-repository.ts); they are cancelled
 * as soon as the outcome statement records an earlier step's delivery to the same user sent
 * (`unless: "delivered"`), brought forward when every earlier-step delivery of that user has
 * ended undelivered, and checked once more when claimed (checkLaterStep), since a step may come
 * due in the same instant as the outcome that should have cancelled it.
 */

/**
 * CTEs for the outcome statement (src/dispatch/repository.ts), after `upd`, the rows it just
 * recorded (id, notification_id, user_id, status, step):
 * - steps_cancelled: a delivery recorded sent cancels the same user's later steps of that
 *   notification that wait with `unless: "delivered"`;
 * - steps_forward: a delivery recorded failed or expired brings the next step of that user
 *   forward to now when no earlier-step delivery of theirs is still pending, being sent or sent
 *   (rows recorded in this statement count with their new status: the CTEs see the old rows).
 * Both look through the small partial index deliveries_pending_steps (migration 0920).
 * A step brought forward still waits out the user's quiet hours (docs/timing.md): a push that
 * failed at 22:05 does not bring its fallback e-mail into the night — and its send window: one
 * that failed on Friday evening waits for Monday's opening (herald_window_release, migration 0903,
 * which takes quiet hours into account too).
 */
const QUIET_RELEASE = 'herald_quiet_release(x.notification_id, x.user_id, x.channel, now())';
const WINDOW_RELEASE = 'herald_window_release(x.notification_id, x.user_id, x.channel, now())';
const FORWARD_TO = `COALESCE(${WINDOW_RELEASE}, ${QUIET_RELEASE}, now())`;

export const STEP_OUTCOME_CTES = `steps_cancelled AS (
         UPDATE deliveries x
            SET status = 'cancelled', last_error = 'not sent: an earlier step was delivered', locked_by = NULL, updated_at = now()
           FROM upd
          WHERE upd.status = 'sent' AND x.notification_id = upd.notification_id AND x.user_id = upd.user_id
            AND x.step > upd.step AND x.step_unless = 'delivered' AND x.step > 0 AND x.status = 'pending'
         RETURNING x.id, x.notification_id, x.user_id, x.step, x.channel, x.provider),
       steps_forward AS (
         UPDATE deliveries x SET due_at = ${FORWARD_TO}, run_at = ${FORWARD_TO}, updated_at = now(),
                deferred_by = CASE WHEN ${WINDOW_RELEASE} > COALESCE(${QUIET_RELEASE}, now()) THEN 'send-window'
                                   WHEN ${QUIET_RELEASE} IS NOT NULL THEN 'quiet-hours' END
           FROM upd
          WHERE upd.status IN ('failed', 'expired') AND x.notification_id = upd.notification_id AND x.user_id = upd.user_id
            AND x.step = upd.step + 1 AND x.step > 0 AND x.status = 'pending' AND x.run_at > now()
            AND NOT EXISTS (SELECT 1 FROM deliveries e
                             WHERE e.notification_id = x.notification_id AND e.user_id = x.user_id AND e.step < x.step
                               AND e.status IN ('pending', 'sending', 'sent') AND e.id NOT IN (SELECT id FROM upd))
            AND NOT EXISTS (SELECT 1 FROM upd o
                             WHERE o.notification_id = x.notification_id AND o.user_id = x.user_id AND o.step < x.step
                               AND o.status NOT IN ('failed', 'expired', 'cancelled'))
         RETURNING x.id)`;

/** The events of steps_cancelled, as a SELECT to UNION ALL with the outcome statement's events. */
export const STEP_OUTCOME_EVENTS = `SELECT c.user_id, ${eventTypeSql('notification:step-cancelled')}, 'notification', c.notification_id,
              jsonb_build_object('deliveryId', c.id::text, 'step', c.step, 'channel', c.channel, 'provider', c.provider, 'reason', 'delivered')
         FROM steps_cancelled c`;

/**
 * The check when a later step's delivery `id` (leased, status sending) is about to be sent: its
 * condition against the earlier steps now. If it holds, the row is cancelled with the reason and
 * a `notification:step-cancelled` event, in one statement; if not, on the first attempt, a
 * `notification:step-fired` event is written. Returns why it was cancelled ('delivered' or
 * 'read'), or undefined when it is to be sent (also when the row is no longer leased).
 */
export async function checkLaterStep(db: Queryable, id: string, firstAttempt: boolean): Promise<'delivered' | 'read' | undefined> {
  const { rows } = await db.query<{ reason: 'delivered' | 'read' | null }>({
    name: 'herald:fallbacks:check-step',
    text: `WITH me AS (
       SELECT id, notification_id, user_id, step, step_unless, channel, provider FROM deliveries WHERE id = $1 AND status = 'sending' AND step > 0
     ), why AS (
       SELECT me.*, CASE
           WHEN me.step_unless = 'delivered' AND EXISTS (
             SELECT 1 FROM deliveries e WHERE e.notification_id = me.notification_id AND e.user_id = me.user_id AND e.step < me.step AND e.status = 'sent')
             THEN 'delivered'
           WHEN me.step_unless = 'read' AND EXISTS (
             SELECT 1 FROM inbox_items i WHERE i.notification_id = me.notification_id AND i.user_id = me.user_id AND i.read_at IS NOT NULL)
             THEN 'read'
         END AS reason
         FROM me
     ), cancelled AS (
       UPDATE deliveries d
          SET status = 'cancelled', locked_by = NULL, updated_at = now(),
              last_error = CASE why.reason WHEN 'read' THEN 'not sent: the inbox item was read' ELSE 'not sent: an earlier step was delivered' END
         FROM why WHERE d.id = why.id AND why.reason IS NOT NULL AND d.status = 'sending'
       RETURNING d.id
     ), ev AS (
       ${EVENT_INSERT}
       SELECT why.user_id, CASE WHEN why.reason IS NULL THEN ${eventTypeSql('notification:step-fired')} ELSE ${eventTypeSql('notification:step-cancelled')} END,
              'notification', why.notification_id,
              jsonb_strip_nulls(jsonb_build_object('deliveryId', why.id::text, 'step', why.step, 'channel', why.channel, 'provider', why.provider, 'reason', why.reason))
         FROM why WHERE why.reason IS NOT NULL OR $2::boolean
     )
     SELECT why.reason FROM why`,
    values: [id, firstAttempt],
  });
  return rows[0]?.reason ?? undefined;
}
