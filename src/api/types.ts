import type { FastifyInstance } from 'fastify';
import type { Context } from '../core/context.ts';
import type { Services } from '../runtime/services.ts';

/** What every route module is registered with (kept apart from app.ts so routes do not import it). */
export interface ApiDeps {
  readonly ctx: Context;
  readonly services: Services;
  /** True while shutting down: /readyz answers 503 so load balancers stop sending. */
  readonly draining: () => boolean;
}

export type App = FastifyInstance;
