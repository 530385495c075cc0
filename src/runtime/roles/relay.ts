import type { Context, Role } from '../../core/context.ts';
import { createBroker } from '../../brokers/index.ts';
import { EventRelay } from '../../relay/index.ts';

/**
 * The event relay role: outbox rows of `events` → HERALD_EVENTS_TOPIC on HERALD_EVENTS_BROKER.
 * Not configured (undefined) unless HERALD_EVENTS_BROKER is set.
 */
export function relayRole(ctx: Context): Role | undefined {
  const brokerName = ctx.config.events.broker;
  if (!brokerName) return undefined;
  const log = ctx.log.child({ role: 'relay' });
  const broker = createBroker(brokerName, ctx.config, log);
  const relay = new EventRelay({ pool: ctx.pool, broker, topic: ctx.config.events.topic, log, metrics: ctx.metrics });
  return {
    name: 'relay',
    async start() {
      // A broker that is down at start-up is a backlog, not a failed start: the topic is
      // created (or found) on the first successful publish.
      await relay.start();
      log.info({ broker: brokerName, topic: ctx.config.events.topic }, 'event relay started');
    },
    async stop() {
      await relay.stop();
      await broker.close();
    },
  };
}
