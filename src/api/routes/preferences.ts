import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { requestApp, targetUserId } from '../plugins/auth.ts';
import { AppParams, errors } from '../schemas.ts';
import { DefaultAppQuery, PreferencesPatch, PreferencesView, TypeBody, TypeList, TypeParams, TypeView } from '../audience-schemas.ts';
import { SCOPES, jsonOnly, type RouteDeps } from './scopes.ts';
import type { PreferencePatch, TypeInput } from '../../preferences/index.ts';

/**
 * Notification types (admin) and the preference centre (`/v1/me/preferences`, and the same for
 * an operator under `/v1/users/{userId}/preferences?appId=`): docs/audiences.md.
 */
export const preferenceRoutes: FastifyPluginAsync<RouteDeps> = async (app, { services }) => {
  jsonOnly(app);
  const prefs = services.preferences;
  const tags = ['preferences'];
  const one = '/v1/apps/:appId/notification-types/:key';
  type P = { appId: string; key: string };

  app.put(one, {
    schema: { tags, summary: 'Declare or replace a notification type of the app', params: TypeParams, body: TypeBody, response: { 200: TypeView, ...errors(400, 401, 403, 413, 415) } },
  }, async (request) => {
    const { appId, key } = request.params as P;
    return prefs.putType(appId, key, request.body as TypeInput);
  });
  app.get('/v1/apps/:appId/notification-types', {
    schema: { tags, summary: 'The app’s notification types', params: AppParams, response: { 200: TypeList, ...errors(400, 401, 403) } },
  }, async (request) => ({ items: await prefs.listTypes((request.params as { appId: string }).appId) }));
  app.get(one, {
    schema: { tags, summary: 'A notification type', params: TypeParams, response: { 200: TypeView, ...errors(400, 401, 403, 404) } },
  }, async (request) => {
    const { appId, key } = request.params as P;
    return prefs.getType(appId, key);
  });
  app.delete(one, {
    schema: { tags, summary: 'Delete a notification type and the choices users made for it', params: TypeParams, response: { 204: { type: 'null', description: 'deleted' }, ...errors(400, 401, 403, 404) } },
  }, async (request, reply) => {
    const { appId, key } = request.params as P;
    await prefs.deleteType(appId, key);
    return reply.status(204).send();
  });

  for (const scope of SCOPES) {
    const admin = scope.auth === 'admin';
    // An end user's preferences are those of their token's app; an operator names the app.
    const appOf = (request: FastifyRequest) => (admin ? (request.query as { appId: string }).appId : requestApp(request, undefined) ?? 'default');
    const schema = { tags: [...tags, scope.tag], params: scope.params(), ...(admin ? { querystring: DefaultAppQuery } : {}) };
    app.get(`${scope.prefix}/preferences`, {
      config: { auth: scope.auth },
      schema: { ...schema, summary: 'Every notification type with its effective value per channel and why', response: { 200: PreferencesView, ...errors(400, 401, 403, 404) } },
    }, async (request) => prefs.get(appOf(request), targetUserId(request), admin));
    app.patch(`${scope.prefix}/preferences`, {
      config: { auth: scope.auth },
      schema: { ...schema, summary: 'Switch channels, for every type or per type (null: back to the default)', body: PreferencesPatch, response: { 200: PreferencesView, ...errors(400, 401, 403, 404, 413, 415, 422) } },
    }, async (request) => prefs.patch(appOf(request), targetUserId(request), request.body as PreferencePatch, { mustExist: admin }));
  }
};
