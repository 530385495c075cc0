/**
 * Broker dispatch (scale-out mode): due deliveries travel from PostgreSQL claims to channel
 * workers through JetStream (or any Broker), and verdicts are recorded back in PostgreSQL.
 */
export { DispatchPublisher, type DispatchPublisherOptions } from './publisher.ts';
export { DispatchWorker, type DispatchWorkerOptions } from './worker.ts';
export { dispatchSubject, encodeJob, decodeJob } from './job.ts';
