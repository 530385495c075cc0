/**
 * The `ingest` role: `POST /v1/notifications` bodies from a Pub/Sub subscription, an SQS queue or
 * a JetStream consumer (`herald ingest --from pubsub|sqs|nats`, or HERALD_INGEST_FROM).
 */
import { INGEST_SOURCES } from '../../config/spec.ts';
import type { IngestSource } from '../../config/index.ts';
import type { Context, Role } from '../../core/context.ts';
import type { NotificationCreator } from '../../notifications/types.ts';
import { brokerForIngest, createBroker } from '../../brokers/index.ts';
import { NotificationIngest } from '../../ingest/index.ts';

function isSource(value: string): value is IngestSource {
  return (INGEST_SOURCES as readonly string[]).includes(value);
}

/** Undefined unless a source is named (flag first, then HERALD_INGEST_FROM). */
export function ingestRole(ctx: Context, creator: NotificationCreator, from: string | undefined): Role | undefined {
  const source = from ?? ctx.config.ingest.from;
  if (!source) return undefined;
  if (!isSource(source)) throw new Error(`herald ingest --from ${source}: expected one of ${INGEST_SOURCES.join(', ')}`);
  if (source === 'pubsub' && !ctx.config.pubsub.project) throw new Error('herald ingest --from pubsub: HERALD_PUBSUB_PROJECT is required');
  const log = ctx.log.child({ role: 'ingest', source });
  const broker = createBroker(brokerForIngest(source), ctx.config, log);
  const ingest = new NotificationIngest({
    broker,
    source,
    topic: ctx.config.ingest.topic,
    subscription: ctx.config.ingest.subscription,
    creator,
    log,
    metrics: ctx.metrics,
  });
  return {
    name: 'ingest',
    async start() {
      await ingest.start();
      log.info({ topic: ctx.config.ingest.topic, subscription: ctx.config.ingest.subscription }, 'ingest started');
    },
    async stop() {
      await ingest.stop();
      await broker.close();
    },
  };
}
