import type { Context, Role } from '../../core/context.ts';
import type { Services } from '../services.ts';
import { buildApp, type App } from '../../api/app.ts';
import { opsRole } from './ops.ts';

/** The `api` role: the HTTP server. On stop it answers 503 on /readyz, finishes requests, closes. */
export function apiRole(ctx: Context, services: Services): Role & { readonly address: () => string | undefined } {
  let app: App | undefined;
  let draining = false;
  let address: string | undefined;
  let ops: Role | undefined;
  return {
    name: 'api',
    address: () => address,
    async start() {
      app = await buildApp({ ctx, services, draining: () => draining });
      address = await app.listen({ port: ctx.config.port, host: ctx.config.host });
      ctx.log.info({ address }, 'api listening');
      // HERALD_OPS_PORT: metrics and the API description on a port of their own (not the public one).
      if (ctx.config.ops.port !== undefined) {
        const api = app;
        ops = opsRole(ctx, services, { port: ctx.config.ops.port, describe: () => api.swagger() as unknown as Record<string, unknown>, required: true });
        await ops.start();
      }
      services.console.rollup.start();
    },
    async stop() {
      draining = true;
      await services.console.rollup.stop();
      await ops?.stop();
      await app?.close();
    },
  };
}
