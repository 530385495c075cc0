import { EVENT_INSERT } from '../events/outbox.ts';
import { eventTypeSql } from '../events/types.ts';

/**
 * Reading an inbox item stops the fallback steps that wait for it to go unread (docs/timing.md
 * § Fallback chains): CTEs for a statement whose CTE `marked` returns the items just marked read
 * (notification_id, user_id). The same user's pending later steps of those notifications with
 * `unless: "read"` are cancelled, each with a `notification:step-cancelled` event, in the
 * statement that marks the item read: there is no moment where the item is read and the step
 * still due. A step already being sent is checked once more by the engine (src/dispatch/fallback-step.ts).
 */
export const CANCEL_READ_STEPS = `read_steps AS (
         UPDATE deliveries x
            SET status = 'cancelled', last_error = 'not sent: the inbox item was read', locked_by = NULL, updated_at = now()
           FROM (SELECT DISTINCT notification_id, user_id FROM marked WHERE notification_id IS NOT NULL) r
          WHERE x.notification_id = r.notification_id AND x.user_id = r.user_id
            AND x.step > 0 AND x.status = 'pending' AND x.step_unless = 'read'
         RETURNING x.id, x.notification_id, x.user_id, x.step, x.channel, x.provider
       ), read_step_events AS (
         ${EVENT_INSERT}
         SELECT c.user_id, ${eventTypeSql('notification:step-cancelled')}, 'notification', c.notification_id,
                jsonb_build_object('deliveryId', c.id::text, 'step', c.step, 'channel', c.channel, 'provider', c.provider, 'reason', 'read')
           FROM read_steps c
       )`;
