import type { RoleName } from '../config/index.ts';
import type { Context, Role } from './context.ts';
import type { Services } from './services.ts';
import { apiRole } from '../api/role.ts';
import { workerRole } from '../dispatch/role.ts';
import { schedulerRole } from '../scheduler/role.ts';
import { ingestApnsRole } from '../ingest-apns/index.ts';
import { relayRole } from '../relay/index.ts';
import { ingestRole } from '../ingest/index.ts';

export interface RoleOptions {
  /** `herald worker --channels ...` */
  readonly channels?: readonly string[] | undefined;
  /** `herald ingest --from ...` */
  readonly ingestFrom?: string | undefined;
  /** true for `herald start`: roles that are not configured are skipped instead of failing. */
  readonly optional: boolean;
}

type RoleFactory = (ctx: Context, services: Services, options: RoleOptions) => Role | undefined;

/** Every role herald can run. A factory returns undefined when its role is not configured. */
export const ROLE_FACTORIES: Record<RoleName, RoleFactory> = {
  api: (ctx, services) => apiRole(ctx, services),
  scheduler: (ctx) => schedulerRole(ctx),
  worker: (ctx, services, options) => workerRole(ctx, services, options.channels),
  relay: (ctx) => relayRole(ctx),
  ingest: (ctx, services, options) => ingestRole(ctx, services.notifications, options.ingestFrom),
  'ingest-apns': (ctx, services, options) => ingestApnsRole(ctx, services, options.optional),
};
