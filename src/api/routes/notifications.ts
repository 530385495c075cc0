import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import type { ApiDeps } from '../types.ts';
import { targetUserId } from '../plugins/auth.ts';
import { CreatedView, DeliveryPage, ErrorBody, NotificationView, errors } from '../schemas.ts';
import { CursorPage } from '../audience-schemas.ts';
import { deliveryView, notificationView, type Audience } from '../views.ts';
import { SCOPES, jsonOnly, type Scope } from './scopes.ts';
import { NotificationBody } from '../../notifications/schema.ts';

const IdParams = Type.Object({ notificationId: Type.String({ minLength: 1, maxLength: 64 }) });
const Page = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
});
/** At most this many notifications in one `POST /v1/notifications/batch`. */
export const BATCH_MAX_ITEMS = 1000;
/** The batch as documented: each item is a `POST /v1/notifications` body. */
const BatchBody = Type.Object(
  { items: Type.Array(NotificationBody, { minItems: 1, maxItems: BATCH_MAX_ITEMS, description: 'each a POST /v1/notifications body; an invalid one is answered with its error and not created' }) },
  { additionalProperties: false },
);
/**
 * What the route itself rejects (400 for the whole request): not an object, no items, more than
 * the maximum. Items are checked one by one by the service, so one bad item fails only itself.
 */
const BatchEnvelope = Type.Object(
  { items: Type.Array(Type.Unknown(), { minItems: 1, maxItems: BATCH_MAX_ITEMS }) },
  { additionalProperties: false },
);
const envelopeAjv = new Ajv({ allErrors: false, strict: false, coerceTypes: false });
const BatchResult = Type.Object({ items: Type.Array(Type.Union([CreatedView, ErrorBody])) });
const RetryQuery = Type.Object({ includeExpired: Type.Boolean({ default: false }) });

/** Operators (API key) see what providers answered; end users (/v1/me) never do. */
const audienceOf = (scope: Scope): Audience => (scope.auth === 'admin' ? 'operator' : 'user');

/** Notifications (docs/api.md § Notifications): send now or at sendAt, read status, cancel, re-drive. */
export const notificationRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { services }) => {
  jsonOnly(app);
  const tags = ['notifications'];

  app.post('/v1/notifications', {
    schema: {
      tags,
      summary: 'Send a notification now or at sendAt (to a user, several users, one raw device, a topic or everyone)',
      body: NotificationBody,
      response: { 202: CreatedView, ...errors(400, 401, 403, 409, 413, 415, 422) },
    },
  }, async (request, reply) => {
    const created = await services.notifications.create(request.body, { source: 'api' });
    return reply.status(202).send({ id: created.id, status: created.status, sendAt: created.sendAt });
  });

  app.post('/v1/notifications/batch', {
    schema: {
      tags,
      summary: `Send up to ${BATCH_MAX_ITEMS} notifications in one request and one transaction; per-item results in request order`,
      body: BatchBody,
      response: { 200: BatchResult, ...errors(400, 401, 403, 409, 413, 415, 422) },
    },
    validatorCompiler: ({ httpPart }) => {
      if (httpPart !== 'body') throw new Error(`unexpected ${httpPart} schema on the batch route`);
      return envelopeAjv.compile(BatchEnvelope);
    },
  }, async (request) => ({ items: await services.notifications.createBatch((request.body as { items: unknown[] }).items, { source: 'api' }) }));

  app.get('/v1/notifications/:notificationId', {
    schema: { tags, summary: 'A notification with the status of every delivery', params: IdParams, response: { 200: NotificationView, ...errors(400, 401, 403, 404) } },
  }, async (request) => notificationView(await services.notifications.get(request.params.notificationId), 'operator'));

  app.get('/v1/notifications/:notificationId/deliveries', {
    schema: {
      tags,
      summary: 'A notification’s deliveries a page at a time (a broadcast’s million), optionally of one status',
      params: IdParams,
      querystring: Type.Composite([CursorPage, Type.Object({ status: Type.Optional(Type.Union(['pending', 'sending', 'sent', 'failed', 'expired', 'cancelled', 'capped', 'digested'].map((s) => Type.Literal(s)))) })]),
      response: { 200: DeliveryPage, ...errors(400, 401, 403, 404) },
    },
  }, async (request) => {
    const q = request.query;
    const page = await services.notifications.deliveries(request.params.notificationId, q.status, q.limit, q.cursor);
    return { items: page.items.map(deliveryView('operator')), nextCursor: page.nextCursor };
  });

  app.delete('/v1/notifications/:notificationId', {
    schema: { tags, summary: 'Cancel what has not been sent yet (pending deliveries, waiting fallback steps, a broadcast part-way); 409 once nothing is left', params: IdParams, response: { 204: { type: 'null', description: 'cancelled' }, ...errors(400, 401, 403, 404, 409) } },
  }, async (request, reply) => {
    await services.notifications.cancel(request.params.notificationId);
    return reply.status(204).send(null);
  });

  app.post('/v1/notifications/:notificationId/retry', {
    schema: {
      tags,
      summary: 'Re-drive failed deliveries (the dead letter) of a notification',
      params: IdParams,
      querystring: RetryQuery,
      response: { 202: Type.Object({ redriven: Type.Integer() }), ...errors(400, 401, 403, 404, 409) },
    },
  }, async (request, reply) => reply.status(202).send(await services.notifications.retry(request.params.notificationId, request.query.includeExpired)));

  for (const scope of SCOPES) {
    app.get(`${scope.prefix}/notifications`, {
      config: { auth: scope.auth },
      schema: {
        tags: [...tags, scope.tag],
        summary: 'The user’s notifications, newest first',
        params: scope.params(),
        querystring: Page,
        response: { 200: Type.Object({ items: Type.Array(NotificationView), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }), ...errors(400, 401, 403) },
      },
    }, async (request) => {
      const q = request.query;
      const userId = targetUserId(request);
      const audience = audienceOf(scope);
      const page = await services.notifications.listForUser(userId, q.limit, q.offset);
      return { ...page, items: page.items.map((item) => notificationView(item, audience, audience === 'user' ? [userId] : undefined)) };
    });
    app.get(`${scope.prefix}/notifications/:notificationId`, {
      config: { auth: scope.auth },
      schema: {
        tags: [...tags, scope.tag],
        summary: 'One of the user’s notifications with that user’s deliveries',
        params: scope.params({ notificationId: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 200: NotificationView, ...errors(400, 401, 403, 404) },
      },
    }, async (request) => {
      const userId = targetUserId(request);
      const audience = audienceOf(scope);
      const record = await services.notifications.get(request.params.notificationId, userId);
      return notificationView(record, audience, audience === 'user' ? [userId] : undefined);
    });
  }
};
