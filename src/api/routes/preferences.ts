import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requestApp, targetUserId } from '../plugins/auth.ts';
import { AppParams, UserParams, errors } from '../schemas.ts';
import { DefaultAppQuery, PreferencesPatch, PreferencesView, TypeBody, TypeList, TypeParams, TypeView } from '../audience-schemas.ts';
import { jsonOnly, type RouteDeps } from './scopes.ts';

/**
 * Notification types (admin) and the preference centre (`/v1/me/preferences`, and the same for
 * an operator under `/v1/users/{userId}/preferences?appId=`): docs/audiences.md.
 */
export const preferenceRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { services }) => {
  jsonOnly(app);
  const prefs = services.preferences;
  const tags = ['preferences'];
  const one = '/v1/apps/:appId/notification-types/:key';

  app.put(one, {
    schema: { tags, summary: 'Declare or replace a notification type of the app', params: TypeParams, body: TypeBody, response: { 200: TypeView, ...errors(400, 401, 403, 404, 413, 415) } },
  }, async (request) => prefs.putType(request.params.appId, request.params.key, request.body));
  app.get('/v1/apps/:appId/notification-types', {
    schema: { tags, summary: 'The app’s notification types', params: AppParams, response: { 200: TypeList, ...errors(400, 401, 403) } },
  }, async (request) => ({ items: await prefs.listTypes(request.params.appId) }));
  app.get(one, {
    schema: { tags, summary: 'A notification type', params: TypeParams, response: { 200: TypeView, ...errors(400, 401, 403, 404) } },
  }, async (request) => prefs.getType(request.params.appId, request.params.key));
  app.delete(one, {
    schema: { tags, summary: 'Delete a notification type and the choices users made for it', params: TypeParams, response: { 204: { type: 'null', description: 'deleted' }, ...errors(400, 401, 403, 404) } },
  }, async (request, reply) => {
    await prefs.deleteType(request.params.appId, request.params.key);
    return reply.status(204).send(null);
  });

  // The preference centre. An operator names the app (`?appId=`, default `default`) and the user
  // must exist; an end user's preferences are those of their token's app.
  const read = { summary: 'Every notification type with its effective value per channel and why', response: { 200: PreferencesView, ...errors(400, 401, 403, 404) } };
  const change = { summary: 'Switch channels, for every type or per type (null: back to the default)', body: PreferencesPatch, response: { 200: PreferencesView, ...errors(400, 401, 403, 404, 413, 415, 422) } };

  const admin = { config: { auth: 'admin' as const }, schema: { tags: [...tags, 'admin'], params: UserParams, querystring: DefaultAppQuery } };
  app.get('/v1/users/:userId/preferences', { ...admin, schema: { ...admin.schema, ...read } },
    async (request) => prefs.get(request.query.appId, targetUserId(request), true));
  app.patch('/v1/users/:userId/preferences', { ...admin, schema: { ...admin.schema, ...change } },
    async (request) => prefs.patch(request.query.appId, targetUserId(request), request.body, { mustExist: true }));

  const me = { config: { auth: 'user' as const }, schema: { tags: [...tags, 'me'] } };
  app.get('/v1/me/preferences', { ...me, schema: { ...me.schema, ...read } },
    async (request) => prefs.get(requestApp(request, undefined) ?? 'default', targetUserId(request), false));
  app.patch('/v1/me/preferences', { ...me, schema: { ...me.schema, ...change } },
    async (request) => prefs.patch(requestApp(request, undefined) ?? 'default', targetUserId(request), request.body, { mustExist: false }));
};
