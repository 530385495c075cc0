import type { Queryable } from './pool.ts';

/**
 * Workers LISTEN on this channel; whoever makes deliveries due (API, scheduler, retries) sends
 * the earliest due time as epoch milliseconds. NOTIFY inside a transaction is delivered at
 * commit, so a worker never wakes for rows it cannot see yet.
 */
export const DELIVERIES_CHANNEL = 'herald_deliveries';
export const REMINDERS_CHANNEL = 'herald_reminders';
export const INBOX_CHANNEL = 'herald_inbox';
/** Broadcasts waiting for fan-out (src/scheduler/fan-out.ts); payload: start time, epoch ms. */
export const BROADCASTS_CHANNEL = 'herald_broadcasts';

export async function notifyDeliveriesDue(db: Queryable, at: Date): Promise<void> {
  await db.query(`SELECT pg_notify($1, $2)`, [DELIVERIES_CHANNEL, String(at.getTime())]);
}

export async function notifyRemindersDue(db: Queryable, at: Date): Promise<void> {
  await db.query(`SELECT pg_notify($1, $2)`, [REMINDERS_CHANNEL, String(at.getTime())]);
}

export async function notifyBroadcastsDue(db: Queryable, at: Date): Promise<void> {
  await db.query(`SELECT pg_notify($1, $2)`, [BROADCASTS_CHANNEL, String(at.getTime())]);
}
