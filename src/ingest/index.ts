/**
 * Broker ingest: `POST /v1/notifications` bodies from a Pub/Sub subscription, an SQS queue or a
 * JetStream consumer (role: src/runtime/roles/ingest.ts).
 */
export { NotificationIngest, type IngestOptions, type IngestOutcome } from './consumer.ts';
