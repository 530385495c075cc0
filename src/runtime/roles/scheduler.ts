import type { Context, Role } from '../../core/context.ts';
import type { RecurrenceEvaluator } from '../../reminders/recurrence-pool.ts';
import { ReminderScheduler } from '../../scheduler/index.ts';
import { RetentionJob } from '../../retention/job.ts';

/**
 * The `scheduler` role: rolls reminders to their next occurrence as each one fires, and in
 * HERALD_DISPATCH_MODE=nats also publishes due deliveries to JetStream for the workers; and runs
 * the retention pass when it is due.
 */
export function schedulerRole(ctx: Context, recurrences: RecurrenceEvaluator): Role {
  const scheduler = new ReminderScheduler(ctx.pool, ctx.log, recurrences);
  // Purges what is past its retention (docs/privacy.md); events stay until published when a relay runs.
  const retention = new RetentionJob(ctx.pool, ctx.log, { ...ctx.config.retention, relayPublishes: ctx.config.events.broker !== undefined });
  let publisher: Role | undefined;
  return {
    name: 'scheduler',
    async start() {
      await scheduler.start();
      retention.start();
      if (ctx.config.dispatch.mode === 'nats') {
        const { dispatchPublisherRole } = await import('./dispatch.ts');
        publisher = dispatchPublisherRole(ctx);
        await publisher.start();
      }
    },
    async stop() {
      await publisher?.stop();
      await retention.stop();
      await scheduler.stop();
    },
  };
}
