import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Queryable } from '../../db/pool.ts';
import { HeraldError, notFound } from '../../errors/index.ts';
import { addUserToApps, notificationApp, userInApps } from '../../auth/app-access.ts';

/** Does this route's body schema take an `appId` (devices, reminders, notifications, topics)? */
function bodyTakesApp(request: FastifyRequest): boolean {
  const body = request.routeOptions.schema?.body as { properties?: Record<string, unknown> } | undefined;
  return body?.properties?.appId !== undefined;
}

/** Does this route's query take an `appId` (topics, dead letters, a user's topics)? */
function queryTakesApp(request: FastifyRequest): boolean {
  const query = request.routeOptions.schema?.querystring as { properties?: Record<string, unknown> } | undefined;
  return query?.properties?.appId !== undefined;
}

/** The `appId` the caller wrote in the query string, before the schema filled in its default. */
function queryAppGiven(request: FastifyRequest): string | undefined {
  const at = request.url.indexOf('?');
  return at < 0 ? undefined : new URLSearchParams(request.url.slice(at + 1)).get('appId') ?? undefined;
}

/**
 * A key limited to some apps sees nothing of the others: an app, a user or a notification of
 * another app is 404 `NOT_FOUND`, exactly as if it did not exist. Runs after validation, so the
 * path, query and body are known; a body or query that names no app gets the key's first app
 * (not `default`, nor every app). Routes about the whole deployment (`config.deploymentWide`:
 * delivery statistics, the audit trail) are 403 `FORBIDDEN` to such a key. Lists that span apps
 * without an `appId` (apps, users, a re-drive by delivery ids) filter by `request.caller.appIds`
 * themselves.
 */
export function registerAppLimits(app: FastifyInstance, db: Queryable): void {
  app.addHook('preHandler', async (request) => {
    const caller = request.caller;
    if (caller?.kind !== 'admin' || caller.appIds === null) return;
    const allowed = caller.appIds;
    const params = (request.params ?? {}) as Record<string, unknown>;
    if (typeof params.appId === 'string' && !allowed.includes(params.appId)) throw notFound('app', params.appId);
    if (request.routeOptions.config.deploymentWide) {
      throw new HeraldError('FORBIDDEN', 'This route reports on every app of the deployment; it needs a key that is not limited to apps.', [{ field: 'appIds', message: `this key is limited to ${allowed.join(', ')}` }]);
    }
    // The query's app, like the body's: another app is not found, none named is the key's first
    // app (the schema's default, `default` or every app, is not what a limited key may see).
    if (queryTakesApp(request)) {
      const given = queryAppGiven(request);
      if (given !== undefined && !allowed.includes(given)) throw notFound('app', given);
      if (given === undefined) (request.query as Record<string, unknown>).appId = allowed[0];
    }
    const body = request.body;
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
      const fields = body as Record<string, unknown>;
      if (typeof fields.appId === 'string') {
        if (!allowed.includes(fields.appId)) throw notFound('app', fields.appId);
      } else if (bodyTakesApp(request)) {
        fields.appId = allowed[0];
      }
    }
    if (typeof params.userId === 'string' && (await userInApps(db, params.userId, allowed)) === 'no') {
      throw notFound('user', params.userId);
    }
    if (typeof params.notificationId === 'string') {
      const appId = await notificationApp(db, params.notificationId);
      if (appId !== undefined && !allowed.includes(appId)) throw notFound('notification', params.notificationId);
    }
  });
  // A user created or changed through an app-limited key belongs to its apps from then on.
  app.addHook('onSend', async (request, reply, payload) => {
    const caller = request.caller;
    if (caller?.kind !== 'admin' || caller.appIds === null) return payload;
    if (request.method === 'PUT' && request.routeOptions.url === '/v1/users/:userId' && reply.statusCode === 200) {
      await addUserToApps(db, (request.params as { userId: string }).userId, caller.appIds);
    }
    return payload;
  });
}
