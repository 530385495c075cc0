import type { Pool } from '../../db/pool.ts';
import { uuidv7 } from '../../db/ids.ts';
import { INBOX_CHANNEL } from '../../db/wakeup.ts';
import type { Channel, DeliveryJob, Verdict } from '../types.ts';
import { coerceError } from '../../log/index.ts';

/**
 * The in-app inbox: delivering stores an item for the user (once per delivery, however often the
 * delivery is retried) and NOTIFYs `herald_inbox`, which API processes turn into Server-Sent
 * Events for the user's open streams.
 */
export function createInboxChannel(pool: Pool): Channel {
  return {
    provider: 'inbox',
    maxAttempts: 10,
    async send(job: DeliveryJob): Promise<Verdict> {
      if (!job.user) return { status: 'failed', error: 'the inbox channel needs a user' };
      const c = job.content;
      try {
        const { rows } = await pool.query<{ id: string }>(
          `WITH ins AS (
             INSERT INTO inbox_items (id, user_id, notification_id, delivery_id, title, body, data, url)
             VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
             ON CONFLICT (delivery_id) DO NOTHING
             RETURNING id, user_id)
           SELECT id, pg_notify($9, json_build_object('userId', user_id, 'id', id)::text) FROM ins`,
          [uuidv7(), job.user.id, job.notificationId, job.id, c.title ?? null, c.body ?? null, JSON.stringify(c.data ?? {}), c.url ?? null, INBOX_CHANNEL],
        );
        return { status: 'sent', providerId: rows[0]?.id };
      } catch (err) {
        return { status: 'retry', error: coerceError(err).message };
      }
    },
    async close() {},
  };
}
