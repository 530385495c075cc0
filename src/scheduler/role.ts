import type { Context, Role } from '../runtime/context.ts';
import { ReminderScheduler } from './index.ts';

/** The `scheduler` role: rolls reminders to their next occurrence as each one fires. */
export function schedulerRole(ctx: Context): Role {
  const scheduler = new ReminderScheduler(ctx.pool, ctx.log);
  return { name: 'scheduler', start: () => scheduler.start(), stop: () => scheduler.stop() };
}
