/** APNs ingest: Pub/Sub messages that each name one iOS device (role: src/runtime/roles/ingest-apns.ts). */
export { ApnsIngest, HEALTH_CHECK, type ApnsIngestOptions } from './consumer.ts';
export { decide, type IngestMessage, type Decision } from './message.ts';
