import type { Context, Role } from '../../core/context.ts';
import type { RecurrenceEvaluator } from '../../reminders/recurrence-pool.ts';
import { ReminderScheduler } from '../../scheduler/index.ts';

/**
 * The `scheduler` role: rolls reminders to their next occurrence as each one fires, and in
 * HERALD_DISPATCH_MODE=nats also publishes due deliveries to JetStream for the workers.
 */
export function schedulerRole(ctx: Context, recurrences: RecurrenceEvaluator): Role {
  const scheduler = new ReminderScheduler(ctx.pool, ctx.log, recurrences);
  let publisher: Role | undefined;
  return {
    name: 'scheduler',
    async start() {
      await scheduler.start();
      if (ctx.config.dispatch.mode === 'nats') {
        const { dispatchPublisherRole } = await import('../../brokers/dispatch/roles.ts');
        publisher = dispatchPublisherRole(ctx);
        await publisher.start();
      }
    },
    async stop() {
      await publisher?.stop();
      await scheduler.stop();
    },
  };
}
