import type { RoleName } from '../../config/index.ts';
import type { Context, Role } from '../../core/context.ts';
import type { Services } from '../services.ts';
import { apiRole } from './api.ts';
import { workerRole } from './worker.ts';
import { schedulerRole } from './scheduler.ts';

export interface RoleOptions {
  /** `herald worker --channels ...` */
  readonly channels?: readonly string[] | undefined;
  /** `herald ingest --from ...` */
  readonly ingestFrom?: string | undefined;
  /** true for `herald start`: roles that are not configured are skipped instead of failing. */
  readonly optional: boolean;
}

type RoleFactory = (ctx: Context, services: Services, options: RoleOptions) => Promise<Role | undefined>;

/**
 * Every role herald can run. A factory returns undefined when its role is not configured. The
 * broker roles are imported only when asked for: their cloud SDKs (Pub/Sub's gRPC stack, the AWS
 * clients) would otherwise add ~50 MB to every process.
 */
export const ROLE_FACTORIES: Record<RoleName, RoleFactory> = {
  api: async (ctx, services) => apiRole(ctx, services),
  scheduler: async (ctx, services) => schedulerRole(ctx, services.recurrences),
  worker: async (ctx, services, options) => workerRole(ctx, services, options.channels),
  relay: async (ctx) => (await import('./relay.ts')).relayRole(ctx),
  ingest: async (ctx, services, options) => (await import('./ingest.ts')).ingestRole(ctx, services.notifications, options.ingestFrom),
  'ingest-apns': async (ctx, services, options) => (await import('./ingest-apns.ts')).ingestApnsRole(ctx, services, options.optional),
};
