import type { Context, Role } from '../../core/context.ts';
import type { Health } from '../../health/index.ts';
import type { NotificationCreator } from '../../notifications/types.ts';
import { ApnsIngest } from '../../ingest-apns/index.ts';

/** What the role needs of the services (a subset, so it does not depend on all of them). */
export interface IngestApnsServices {
  readonly health: Health;
  readonly notifications?: NotificationCreator | undefined;
}

/**
 * `herald ingest-apns` (and part of `herald start` when HERALD_PUBSUB_PROJECT is set): the
 * job of the old APNs worker. Not configured → undefined under `herald start`; run explicitly, a missing
 * variable stops start-up with its name.
 */
export function ingestApnsRole(ctx: Context, services: IngestApnsServices, optional: boolean): Role | undefined {
  const projectId = ctx.config.pubsub.project;
  const notifications = services.notifications;
  if (!projectId || !notifications) {
    if (optional) return undefined;
    throw new Error(
      !projectId
        ? 'herald ingest-apns needs HERALD_PUBSUB_PROJECT (the Google Cloud project of the subscription; with PUBSUB_EMULATOR_HOST for the emulator)'
        : 'herald ingest-apns needs the notification service, which this build does not provide',
    );
  }
  const ingest = new ApnsIngest({
    projectId,
    topic: ctx.config.ingestApns.topic,
    subscription: ctx.config.ingestApns.subscription,
    maxAgeSeconds: ctx.config.ingestApns.maxAgeSeconds,
    autoCreate: ctx.config.brokerAutoCreate,
    log: ctx.log.child({ role: 'ingest-apns' }),
    metrics: ctx.metrics,
    health: services.health,
    notifications,
  });
  return { name: 'ingest-apns', start: () => ingest.start(), stop: () => ingest.stop() };
}
