import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiDeps } from '../types.ts';
import { migrationsApplied } from '../../db/migrate.ts';
import { errorBody } from '../plugins/errors.ts';

export const healthRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { ctx } = deps;
  const hide = { hide: true };

  app.get('/healthz', { config: { auth: 'public' }, schema: hide, logLevel: 'warn' }, async (_request, reply) => {
    const problems = await deps.services.health.problems();
    if (problems.length > 0) return reply.status(503).send({ status: 'unhealthy', problems });
    return { status: 'ok' };
  });

  app.get('/readyz', { config: { auth: 'public' }, schema: hide, logLevel: 'warn' }, async (_request, reply) => {
    if (deps.draining()) return reply.status(503).send(errorBody('NOT_READY', 'shutting down'));
    try {
      const ok = await migrationsApplied(ctx.pool, ctx.latestMigration);
      if (!ok) return reply.status(503).send(errorBody('NOT_READY', 'migrations not applied'));
    } catch {
      return reply.status(503).send(errorBody('NOT_READY', 'database unreachable'));
    }
    return { status: 'ready' };
  });

  app.get('/metrics', { config: { auth: 'public' }, schema: hide, logLevel: 'warn' }, async (_request, reply) => {
    await deps.services.health.refreshGauges();
    void reply.header('content-type', ctx.metrics.contentType);
    return ctx.metrics.metrics();
  });
};
