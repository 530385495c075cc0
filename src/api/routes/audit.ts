import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors } from '../schemas.ts';
import type { RouteDeps } from './scopes.ts';

const AuditQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
  after: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$', description: 'the `next` of the previous page' })),
  actor: Type.Optional(Type.String({ maxLength: 300, description: '`key:<id>` or `user:<app>:<id>`' })),
  itemType: Type.Optional(Type.String({ maxLength: 50, description: 'key, app, template, notification-type, user' })),
});
const AuditEntry = Type.Object({
  id: Type.String(),
  type: Type.String(),
  itemType: Type.String(),
  itemId: Type.String(),
  actor: Type.Union([Type.String(), Type.Null()]),
  data: Type.Unknown(),
  createdAt: Type.String({ format: 'date-time' }),
});

/** The audit trail (scope `admin`): administrative actions, oldest first, paged by `after`. */
export const auditRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { services }) => {
  app.get('/v1/audit', {
    config: { deploymentWide: true },
    schema: {
      tags: ['audit'],
      summary: 'Administrative actions (keys, apps and credentials, templates, notification types, user deletions) and who did them',
      querystring: AuditQuery,
      response: { 200: Type.Object({ items: Type.Array(AuditEntry), next: Type.Optional(Type.String()) }), ...errors(400, 401, 403) },
    },
  }, async (request) => {
    const page = await services.events.audit(request.query);
    return {
      items: page.items.map((e) => ({ id: e.id, type: e.type, itemType: e.itemType, itemId: e.itemId, actor: e.actor, data: e.data, createdAt: e.createdAt.toISOString() })),
      ...(page.next ? { next: page.next } : {}),
    };
  });
};
