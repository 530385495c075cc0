/**
 * Brokers: one interface (./types.ts), three adapters on the official clients. The composition
 * root and the roles build them through `createBroker`, from the configuration.
 */
import type { Config, BrokerName, IngestSource } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { Broker } from '../core/broker.ts';
import { NatsBroker } from './nats/index.ts';
import { PubSubBroker } from './pubsub/index.ts';
import { SnsSqsBroker } from './sns-sqs/index.ts';

export * from '../core/broker.ts';
export { NatsBroker, natsName } from './nats/index.ts';
export { PubSubBroker } from './pubsub/index.ts';
export { SnsSqsBroker } from './sns-sqs/index.ts';

/** Ingest names the input by its consuming side (`sqs`); the adapter is the SNS/SQS one. */
export function brokerForIngest(source: IngestSource): BrokerName {
  return source === 'sqs' ? 'sns' : source;
}

/**
 * Build a broker from the configuration. Endpoints follow each vendor's standard variables:
 * PUBSUB_EMULATOR_HOST (read by the Pub/Sub client), AWS_ENDPOINT_URL / AWS_REGION and the
 * standard AWS credential chain (read by the AWS SDK), HERALD_NATS_URL.
 */
export function createBroker(name: BrokerName, config: Config, log: Logger): Broker {
  const autoCreate = config.brokerAutoCreate;
  const child = log.child({ broker: name });
  switch (name) {
    case 'pubsub':
      if (!config.pubsub.project) throw new Error('HERALD_PUBSUB_PROJECT is required for the Pub/Sub broker');
      return new PubSubBroker({ projectId: config.pubsub.project, autoCreate, log: child });
    case 'sns':
      return new SnsSqsBroker({ autoCreate, log: child });
    case 'nats':
      return new NatsBroker({ url: config.natsUrl, autoCreate, log: child });
  }
}
