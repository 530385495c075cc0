import type { Queryable } from '../db/pool.ts';
import { HeraldError } from '../errors/index.ts';

/**
 * What one user may own, counted in the transaction that adds one more. The user's row is locked
 * first, so two requests adding at once cannot both see room for one. A limit of 0 is none.
 * Topic subscriptions use this too (table `topic_subscriptions`, `HERALD_USER_MAX_TOPICS`).
 */
const COUNTS = {
  devices: `SELECT count(*)::int AS n FROM devices WHERE user_id = $1`,
  reminders: `SELECT count(*)::int AS n FROM reminders WHERE user_id = $1`,
  topics: `SELECT count(*)::int AS n FROM topic_subscriptions WHERE user_id = $1`,
} as const;

export type CappedThing = keyof typeof COUNTS;

export async function ensureRoomFor(db: Queryable, userId: string, thing: CappedThing, max: number, adding = 1): Promise<void> {
  if (max <= 0) return;
  const { rowCount } = await db.query(`SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, [userId]);
  if (!rowCount) {
    // A user herald meets for the first time has no row to lock, and two first requests would
    // both count nothing. Make the row (every caller makes the user in this transaction anyway):
    // a second transaction inserting it waits for the first to end, then locks the row it made.
    await db.query(`INSERT INTO users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, [userId]);
    await db.query(`SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, [userId]);
  }
  const { rows } = await db.query<{ n: number }>(COUNTS[thing], [userId]);
  const n = rows[0]?.n ?? 0;
  if (n + adding > max) {
    throw new HeraldError('USER_LIMIT_REACHED', `The user already has ${n} ${thing}; herald allows ${max}.`, { limit: `HERALD_USER_MAX_${thing.toUpperCase()}`, max, current: n });
  }
}
