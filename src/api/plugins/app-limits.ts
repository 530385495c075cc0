import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Queryable } from '../../db/pool.ts';
import { notFound } from '../../errors/index.ts';
import { addUserToApps, notificationApp, userInApps } from '../../auth/app-access.ts';

/** Does this route's body schema take an `appId` (devices, reminders, notifications, topics)? */
function bodyTakesApp(request: FastifyRequest): boolean {
  const body = request.routeOptions.schema?.body as { properties?: Record<string, unknown> } | undefined;
  return body?.properties?.appId !== undefined;
}

/**
 * A key limited to some apps sees nothing of the others: an app, a user or a notification of
 * another app is 404 `NOT_FOUND`, exactly as if it did not exist. Runs after validation, so the
 * path and body are known; a body that names no app gets the key's first app (not `default`).
 */
export function registerAppLimits(app: FastifyInstance, db: Queryable): void {
  app.addHook('preHandler', async (request) => {
    const caller = request.caller;
    if (caller?.kind !== 'admin' || caller.appIds === null) return;
    const allowed = caller.appIds;
    const params = (request.params ?? {}) as Record<string, unknown>;
    if (typeof params.appId === 'string' && !allowed.includes(params.appId)) throw notFound('app', params.appId);
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
