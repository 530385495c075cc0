import type { Queryable } from '../db/pool.ts';
import { insertStepDeliveriesSql, type FanOutSource } from './fan-out.ts';
import type { StoredStep } from './fallback-steps.ts';

/**
 * The SQL of fallback chains on the notification side: storing a notification's steps and making
 * the deliveries of its later steps (docs/timing.md § Fallback chains). They are made when the
 * notification is, by the same fan-out rule as its first step (src/notifications/fan-out.ts), as
 * pending rows due at the notification's time plus the step's `after`: a chain is rows with due
 * times, so it survives a crash and any worker fires it. A step's time to live counts from its
 * own due time.
 */

/**
 * The notifications $1 (inserted earlier in the transaction) with their steps $2 (JSON text, in
 * the same order); each recipient as t.uid, each later step as s (def, ord: 1 is the first step).
 */
const LATER_STEPS: FanOutSource = {
  from: `unnest($1::text[], $2::text[]) AS v(id, steps)
         JOIN notifications n ON n.id = v.id
         CROSS JOIN LATERAL unnest(n.user_ids) AS t(uid)
         CROSS JOIN LATERAL jsonb_array_elements(v.steps::jsonb) WITH ORDINALITY AS s(def, ord)`,
  isRecipient: (column) => `${column} = t.uid`,
  where: 's.ord > 1',
  channels: `ARRAY(SELECT jsonb_array_elements_text(s.def -> 'channels'))`,
  delay: `(s.def ->> 'afterMs')::bigint * interval '1 millisecond'`,
  step: { number: '(s.ord - 1)::smallint', unless: `s.def ->> 'unless'` },
};

export interface SteppedNotification {
  readonly id: string;
  readonly steps?: readonly StoredStep[] | null | undefined;
}

/**
 * Store the steps on these notifications and make their later steps' deliveries, in one
 * statement (the caller's transaction also created the notifications). Returns how many
 * deliveries were made.
 */
export async function insertLaterSteps(db: Queryable, notifications: readonly SteppedNotification[]): Promise<number> {
  const stepped = notifications.filter((n) => n.steps && n.steps.length > 0);
  if (stepped.length === 0) return 0;
  const { rowCount } = await db.query(
    `WITH stored AS (
       UPDATE notifications n SET steps = v.steps::jsonb
         FROM unnest($1::text[], $2::text[]) AS v(id, steps)
        WHERE n.id = v.id
     )
     ${insertStepDeliveriesSql(LATER_STEPS)}`,
    [stepped.map((n) => n.id), stepped.map((n) => JSON.stringify(n.steps))],
  );
  return rowCount ?? 0;
}
