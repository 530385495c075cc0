import type { Context, Role } from '../../core/context.ts';
import type { Channel, Provider } from '../../channels/types.ts';
import { PROVIDERS } from '../../channels/types.ts';
import { createBroker } from '../../brokers/index.ts';
import { DispatchPublisher } from '../../dispatch/broker/publisher.ts';
import { DispatchWorker, type DispatchWorkerOptions } from '../../dispatch/broker/worker.ts';

/**
 * HERALD_DISPATCH_MODE=nats: the scheduler role also publishes due deliveries to JetStream
 * (`<prefix>.<provider>`), and worker roles consume those subjects instead of claiming from
 * PostgreSQL, so senders scale independently of database claims.
 */
export function dispatchPublisherRole(ctx: Context): Role {
  const broker = createBroker('nats', ctx.config, ctx.log);
  const publisher = new DispatchPublisher({
    pool: ctx.pool,
    broker,
    log: ctx.log.child({ role: 'dispatch-publisher' }),
    providers: PROVIDERS,
    prefix: ctx.config.dispatch.subjectPrefix,
  });
  return {
    name: 'dispatch-publisher',
    start: () => publisher.start(),
    async stop() {
      await publisher.stop();
      await broker.close();
    },
  };
}

export function dispatchWorker(
  ctx: Context,
  channels: ReadonlyMap<Provider, Channel>,
  engine: Pick<DispatchWorkerOptions, 'metrics' | 'problems' | 'gate'>,
): { start(): Promise<void>; stop(): Promise<void> } {
  const broker = createBroker('nats', ctx.config, ctx.log);
  const worker = new DispatchWorker({
    pool: ctx.pool,
    broker,
    channels,
    ...engine,
    log: ctx.log.child({ role: 'worker', dispatch: 'nats' }),
    prefix: ctx.config.dispatch.subjectPrefix,
    drainTimeoutMs: ctx.config.shutdownTimeoutMs,
  });
  return {
    start: () => worker.start(),
    async stop() {
      await worker.stop();
      await broker.close();
    },
  };
}
