import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Context, Role } from '../../core/context.ts';
import type { Services } from '../services.ts';
import { registerErrorHandling } from '../../api/plugins/errors.ts';
import { clientErrorHandler, serverFactory } from '../../api/plugins/http-server.ts';
import { healthRoutes } from '../../api/routes/health.ts';
import { coerceError } from '../../log/index.ts';

/**
 * Processes that run no API (`herald worker`, `scheduler`, `relay`, `ingest-apns`) still answer
 * /healthz, /readyz and /metrics on HERALD_PORT, so Kubernetes probes and Prometheus treat every
 * role alike. /readyz turns 503 when shutdown begins.
 */
export function opsRole(ctx: Context, services: Services): Role {
  let app: FastifyInstance | undefined;
  let draining = false;
  return {
    name: 'ops',
    async start() {
      // The same limits on slow and many clients as the API's server (src/api/plugins/http-server.ts).
      const server = Fastify({
        loggerInstance: ctx.log.child({ role: 'ops' }) as FastifyBaseLogger,
        return503OnClosing: true,
        serverFactory: serverFactory(ctx.config.http),
        clientErrorHandler,
      });
      registerErrorHandling(server);
      await server.register(healthRoutes, { ctx, services, draining: () => draining });
      try {
        const address = await server.listen({ port: ctx.config.port, host: ctx.config.host });
        ctx.log.info({ address }, 'health and metrics endpoints listening');
        app = server;
      } catch (err) {
        // Several roles started by hand on one machine would collide on the port; the work
        // itself does not need the endpoint, so say so loudly and carry on.
        ctx.log.error({ err: coerceError(err), port: ctx.config.port }, 'could not serve /healthz, /readyz and /metrics (set HERALD_PORT)');
        await server.close();
      }
    },
    async stop() {
      draining = true;
      await app?.close();
    },
  };
}
