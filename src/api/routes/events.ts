import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { targetUserId } from '../plugins/auth.ts';
import { EventList, EventQuery, errors } from '../schemas.ts';
import { eventView } from '../views.ts';
import { SCOPES, type RouteDeps } from './scopes.ts';

/** The user's event history (the old NestJS system's event store), oldest first after a cursor. */
export const eventRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { services }) => {
  for (const scope of SCOPES) {
    app.get(`${scope.prefix}/events`, {
      config: { auth: scope.auth },
      schema: {
        tags: ['events', scope.tag],
        summary: 'Events about the user, oldest first; pass `next` as `after` for the following page',
        params: scope.params(),
        querystring: EventQuery,
        response: { 200: EventList, ...errors(400, 401, 403) },
      },
    }, async (request) => {
      const { limit, after } = request.query;
      const page = await services.events.list(targetUserId(request), after, limit);
      return { items: page.items.map(eventView), ...(page.next ? { next: page.next } : {}) };
    });
  }
};
