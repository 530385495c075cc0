import type { Context, Role } from '../../core/context.ts';
import type { Services } from '../services.ts';
import { createChannels, type ChannelDeps } from '../../channels/index.ts';
import { createInboxChannel } from '../../channels/inbox/index.ts';
import type { Provider } from '../../channels/types.ts';
import { DeliveryWorker } from '../../dispatch/worker.ts';
import { engineMetrics } from '../../dispatch/metrics.ts';
import { AppProblemTracker } from '../../dispatch/app-problems.ts';
import { OutboundPolicy } from '../../outbound/index.ts';
import { withTemplates } from '../../dispatch/render-step.ts';
import { TemplateCache } from '../../templates/cache.ts';
import { withUnsubscribeLinks } from '../../dispatch/unsubscribe-step.ts';
import { CapStep } from '../../dispatch/cap-step.ts';
import { DigestStep } from '../../dispatch/digest-step.ts';
import { gateChain } from '../../dispatch/gates.ts';

/**
 * The `worker` role: every channel this process can send (or those named by
 * `herald worker --channels apns,webhook` / HERALD_WORKER_CHANNELS) behind one DeliveryWorker.
 * Run as many worker processes as needed; they share the queue through SKIP LOCKED claims.
 */
export function workerRole(ctx: Context, services: Services, only?: readonly string[]): Role {
  const wanted = only && only.length > 0 ? only : ctx.config.worker.channels;
  const deps: ChannelDeps = {
    config: ctx.config,
    log: ctx.log.child({ role: 'worker' }),
    metrics: ctx.metrics,
    credentials: services.credentials,
    // One policy for every channel that sends to URLs others chose (webhook, Web Push).
    outbound: new OutboundPolicy(ctx.config.outbound.allow),
  };
  let worker: { stop(timeoutMs?: number): Promise<void> } | undefined;
  let channels: Map<Provider, import('../../channels/types.ts').Channel> | undefined;
  return {
    name: 'worker',
    async start() {
      channels = createChannels(deps, wanted);
      if (!wanted || wanted.includes('inbox')) channels.set('inbox', createInboxChannel(ctx.pool));
      // Templates render for each recipient just before the channel sends (src/dispatch/render-step.ts).
      // E-mails of non-required types get their one-click unsubscribe link (src/dispatch/unsubscribe-step.ts).
      const sending = withUnsubscribeLinks(withTemplates(channels, new TemplateCache(ctx.pool)), services.unsubscribeLinks);
      // One tracker for every channel and both transports: app problems are written on change only.
      const problems = new AppProblemTracker(services.credentials, deps.log);
      const metrics = engineMetrics(ctx.metrics);
      // Just before each send, on both transports: the digests users chose for a type collect
      // what comes due later (src/dispatch/digest-step.ts), then frequency caps decide
      // (src/dispatch/cap-step.ts).
      const gate = gateChain(new DigestStep(ctx.pool), new CapStep(ctx.pool));
      if (ctx.config.dispatch.mode === 'nats') {
        // Scale-out mode: deliveries arrive as JetStream messages (docs/brokers.md).
        const { dispatchWorker } = await import('./dispatch.ts');
        const w = dispatchWorker(ctx, sending, { metrics, problems, gate });
        await w.start();
        worker = w;
        return;
      }
      const w = new DeliveryWorker(ctx.pool, sending, deps.log, metrics, {
        problems,
        gate,
        batchSize: ctx.config.worker.batchSize,
        concurrency: ctx.config.worker.concurrency,
        leaseSeconds: ctx.config.worker.leaseSeconds,
      });
      await w.start();
      worker = w;
    },
    async stop() {
      await worker?.stop(ctx.config.shutdownTimeoutMs);
      await Promise.allSettled([...(channels?.values() ?? [])].map((c) => c.close()));
    },
  };
}
