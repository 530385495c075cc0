import type { Context, Role } from '../../core/context.ts';
import type { RecurrenceEvaluator } from '../../reminders/recurrence-pool.ts';
import { ReminderScheduler } from '../../scheduler/index.ts';
import { RetentionJob } from '../../retention/job.ts';
import { BroadcastFanOut } from '../../scheduler/fan-out.ts';
import { DigestCloser } from '../../scheduler/digests.ts';

/**
 * The `scheduler` role: rolls reminders to their next occurrence as each one fires, fans
 * broadcasts out to their audiences, closes digests, runs the retention pass when it is due, and in
 * HERALD_DISPATCH_MODE=nats also publishes due deliveries to JetStream for the workers.
 */
export function schedulerRole(ctx: Context, recurrences: RecurrenceEvaluator): Role {
  const scheduler = new ReminderScheduler(ctx.pool, ctx.log, recurrences);
  // Purges what is past its retention (docs/privacy.md); events stay until published when a relay runs.
  const retention = new RetentionJob(ctx.pool, ctx.log, { ...ctx.config.retention, relayPublishes: ctx.config.events.broker !== undefined });
  // Broadcasts (to a topic, to everyone) are fanned out here, chunk by chunk (docs/audiences.md).
  const fanOut = new BroadcastFanOut(ctx.pool, ctx.log, { chunkSize: ctx.config.audiences.chunkSize });
  // Digests whose window has closed are delivered as one notification each (docs/timing.md).
  const digests = new DigestCloser(ctx.pool, ctx.log);
  let publisher: Role | undefined;
  return {
    name: 'scheduler',
    async start() {
      await scheduler.start();
      retention.start();
      await fanOut.start();
      await digests.start();
      if (ctx.config.dispatch.mode === 'nats') {
        const { dispatchPublisherRole } = await import('./dispatch.ts');
        publisher = dispatchPublisherRole(ctx);
        await publisher.start();
      }
    },
    async stop() {
      await publisher?.stop();
      await retention.stop();
      await digests.stop();
      await fanOut.stop();
      await scheduler.stop();
    },
  };
}
