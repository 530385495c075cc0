import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Static } from '@sinclair/typebox';
import { requestApp, targetUserId } from '../plugins/auth.ts';
import { Paging, ReminderBody, ReminderList, ReminderParams, ReminderPatch, ReminderView, errors } from '../schemas.ts';
import { reminderView } from '../views.ts';
import { SCOPES, callerEmail, jsonOnly, type RouteDeps } from './scopes.ts';
import { HeraldError } from '../../errors/index.ts';

/** Broadcasting to a topic is the application's call: an end user's token may not name one. */
function refuseUserTopic(request: FastifyRequest, body: { topic?: string | null | undefined }): void {
  if (request.caller?.kind === 'user' && body.topic) {
    throw new HeraldError('PERMISSION_DENIED', 'Only the application (an API key) may make a reminder broadcast to a topic.', [{ field: 'body.topic', message: 'not allowed with a user token' }]);
  }
}

/**
 * Reminders (docs/api.md § Reminders, the old NestJS system's reminder service). Missing reminders — and another
 * user's, which /v1/me must not reveal — answer 404 NOT_FOUND like every other resource.
 */
export const reminderRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { services }) => {
  jsonOnly(app);
  const reminderId = (request: { params: { reminderId: string } }) => request.params.reminderId;

  for (const scope of SCOPES) {
    const tags = ['reminders', scope.tag];
    const config = { auth: scope.auth };
    const one = scope.params(ReminderParams.properties);
    // A user token changes only reminders its own app sends (see requestApp).
    const update = async (request: FastifyRequest & { body: Static<typeof ReminderPatch>; params: { reminderId: string } }) => {
      const patch = request.body;
      refuseUserTopic(request, patch);
      const onlyApp = request.caller?.kind === 'user' ? requestApp(request, patch.appId) : undefined;
      return reminderView(await services.reminders.update(targetUserId(request), reminderId(request), patch, { onlyApp }));
    };

    app.post(`${scope.prefix}/reminders`, {
      config,
      schema: {
        tags,
        summary: 'Create a reminder; it fires at date − notifyOffset minutes (and at every RRULE occurrence)',
        params: scope.params(),
        body: ReminderBody,
        response: { 201: ReminderView, ...errors(400, 401, 403, 413, 415, 422) },
      },
    }, async (request, reply) => {
      const body = request.body;
      refuseUserTopic(request, body);
      const input = { ...body, appId: requestApp(request, body.appId) };
      const reminder = await services.reminders.create(targetUserId(request), input, callerEmail(request));
      return reply.status(201).send(reminderView(reminder));
    });

    app.get(`${scope.prefix}/reminders`, {
      config,
      schema: { tags, summary: 'List reminders, newest first', params: scope.params(), querystring: Paging, response: { 200: ReminderList, ...errors(400, 401, 403) } },
    }, async (request) => {
      const { limit, offset } = request.query;
      const { items, total } = await services.reminders.list(targetUserId(request), limit, offset);
      return { items: items.map(reminderView), total, limit, offset };
    });

    app.get(`${scope.prefix}/reminders/:reminderId`, {
      config,
      schema: { tags, summary: 'Get a reminder', params: one, response: { 200: ReminderView, ...errors(400, 401, 403, 404) } },
    }, async (request) => reminderView(await services.reminders.get(targetUserId(request), reminderId(request))));

    const patchSchema = { tags, params: one, body: ReminderPatch, response: { 200: ReminderView, ...errors(400, 401, 403, 404, 413, 415, 422) } };
    app.patch(`${scope.prefix}/reminders/:reminderId`, { config, schema: { ...patchSchema, summary: 'Update (reschedule) a reminder' } }, update);
    // The old NestJS system updated with POST /reminders/:id; kept so its clients work unchanged.
    app.post(`${scope.prefix}/reminders/:reminderId`, { config, schema: { ...patchSchema, summary: 'Update a reminder (the form of PATCH the old NestJS system used)' } }, update);

    app.delete(`${scope.prefix}/reminders/:reminderId`, {
      config,
      schema: { tags, summary: 'Delete a reminder and cancel its pending notification', params: one, response: { 204: { type: 'null', description: 'deleted' }, ...errors(400, 401, 403, 404) } },
    }, async (request, reply) => {
      await services.reminders.delete(targetUserId(request), reminderId(request));
      return reply.status(204).send(null);
    });
  }
};
