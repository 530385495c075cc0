import type { Pool } from '../../db/pool.ts';
import { uuidv7 } from '../../db/ids.ts';
import { INBOX_CHANNEL } from '../../db/wakeup.ts';
import { Batcher } from '../../core/batcher.ts';
import type { Channel, DeliveryJob, Verdict } from '../types.ts';
import { coerceError } from '../../log/index.ts';

interface Item {
  readonly id: string;
  readonly job: DeliveryJob & { readonly user: NonNullable<DeliveryJob['user']> };
}

/**
 * The in-app inbox: delivering stores an item for the user (once per delivery, however often the
 * delivery is retried) and NOTIFYs `herald_inbox`, which API processes turn into Server-Sent
 * Events for the user's open streams.
 *
 * The items a worker delivers at about the same time are stored by one statement. A NOTIFY holds
 * PostgreSQL's one notification lock from the statement through the commit's flush to disk, so
 * one transaction per item made every inbox delivery of every worker commit in single file (a
 * broadcast's inbox items went out at about a hundred a second); one transaction per slice pays
 * that once for the slice.
 */
export function createInboxChannel(pool: Pool): Channel {
  const store = new Batcher<Item, Verdict>(async (items) => {
    try {
      const { rows } = await pool.query<{ delivery_id: string; id: string }>(
        `WITH ins AS (
           INSERT INTO inbox_items (id, user_id, notification_id, delivery_id, title, body, data, url)
           SELECT v.id, v.user_id, v.notification_id, v.delivery_id, v.title, v.body, v.data::jsonb, v.url
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[])
                  AS v(id, user_id, notification_id, delivery_id, title, body, data, url)
           ON CONFLICT (delivery_id) DO NOTHING
           RETURNING id, user_id, delivery_id)
         SELECT delivery_id::text AS delivery_id, id, pg_notify($9, json_build_object('userId', user_id, 'id', id)::text) FROM ins`,
        [
          items.map((i) => i.id), items.map((i) => i.job.user.id), items.map((i) => i.job.notificationId), items.map((i) => i.job.id),
          items.map((i) => i.job.content.title ?? null), items.map((i) => i.job.content.body ?? null),
          items.map((i) => JSON.stringify(i.job.content.data ?? {})), items.map((i) => i.job.content.url ?? null), INBOX_CHANNEL,
        ],
      );
      // A delivery stored before (a retry after a lost outcome) is sent all the same, without a new item.
      const stored = new Map(rows.map((r) => [r.delivery_id, r.id]));
      return items.map((i): Verdict => ({ status: 'sent', providerId: stored.get(i.job.id) }));
    } catch (err) {
      const error = coerceError(err).message;
      return items.map((): Verdict => ({ status: 'retry', error }));
    }
  });
  return {
    provider: 'inbox',
    maxAttempts: 10,
    async send(job: DeliveryJob): Promise<Verdict> {
      if (!job.user) return { status: 'failed', error: 'the inbox channel needs a user' };
      return store.add({ id: uuidv7(), job: { ...job, user: job.user } });
    },
    async close() {},
  };
}
