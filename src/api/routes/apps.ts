import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppBody, AppParams, AppView, errors } from '../schemas.ts';
import { appView } from '../views.ts';
import { jsonOnly, type RouteDeps } from './scopes.ts';

/** Apps (docs/api.md § Apps): per-app provider credentials, sealed at rest and never returned. */
export const appRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { services }) => {
  jsonOnly(app);
  const tags = ['apps'];
  app.put('/v1/apps/:appId', {
    schema: {
      tags,
      summary: 'Create or replace an app and its channel credentials (secrets are stored encrypted and never returned)',
      params: AppParams,
      body: AppBody,
      response: { 200: AppView, ...errors(400, 401, 403, 413, 415, 422) },
    },
  }, async (request) => {
    const { appId } = request.params;
    const { app: view } = await services.apps.put(appId, request.body);
    return appView(view);
  });
  app.get('/v1/apps/:appId', {
    schema: { tags, summary: 'Which channels an app has configured, key ids and reported problems', params: AppParams, response: { 200: AppView, ...errors(400, 401, 403, 404) } },
  }, async (request) => appView(await services.apps.get(request.params.appId)));
};
