import type { Context, Role } from '../../core/context.ts';
import type { Services } from '../services.ts';
import { buildApp, type App } from '../../api/app.ts';

/** The `api` role: the HTTP server. On stop it answers 503 on /readyz, finishes requests, closes. */
export function apiRole(ctx: Context, services: Services): Role & { readonly address: () => string | undefined } {
  let app: App | undefined;
  let draining = false;
  let address: string | undefined;
  return {
    name: 'api',
    address: () => address,
    async start() {
      app = await buildApp({ ctx, services, draining: () => draining });
      address = await app.listen({ port: ctx.config.port, host: ctx.config.host });
      ctx.log.info({ address }, 'api listening');
    },
    async stop() {
      draining = true;
      await app?.close();
    },
  };
}
