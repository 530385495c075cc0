import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from '@sinclair/typebox';
import { targetUserId } from '../plugins/auth.ts';
import { UserBody, UserParams, UserView, errors } from '../schemas.ts';
import { userView } from '../views.ts';
import { jsonOnly, type RouteDeps } from './scopes.ts';

/** Users (docs/api.md § Users): PUT creates or replaces, GET reads, DELETE removes with devices and reminders. */
export const userRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { services }) => {
  jsonOnly(app);
  const tags = ['users'];

  const put = async (request: { body: Static<typeof UserBody> } & Parameters<typeof targetUserId>[0]) => {
    const self = request.caller?.kind === 'user' ? { vouchedEmail: request.caller.email } : undefined;
    const { user } = await services.users.put(targetUserId(request), request.body, { self });
    return userView(user);
  };
  const get = async (request: Parameters<typeof targetUserId>[0]) => userView(await services.users.get(targetUserId(request)));

  app.put('/v1/users/:userId', {
    schema: { tags, summary: 'Create or replace a user', params: UserParams, body: UserBody, response: { 200: UserView, ...errors(400, 401, 403, 413, 415, 422) } },
  }, put);
  app.get('/v1/users/:userId', {
    schema: { tags, summary: 'Get a user', params: UserParams, response: { 200: UserView, ...errors(400, 401, 403, 404) } },
  }, get);
  app.delete('/v1/users/:userId', {
    schema: { tags, summary: 'Delete a user with their devices, reminders and pending notifications', params: UserParams, response: { 204: { type: 'null', description: 'deleted' }, ...errors(400, 401, 403, 404) } },
  }, async (request, reply) => {
    await services.users.delete(targetUserId(request));
    return reply.status(204).send(null);
  });

  app.get('/v1/me', {
    config: { auth: 'user' },
    schema: { tags: [...tags, 'me'], summary: 'The calling user', response: { 200: UserView, ...errors(401, 403, 404) } },
  }, get);
  app.put('/v1/me', {
    config: { auth: 'user' },
    schema: { tags: [...tags, 'me'], summary: 'Create or replace the calling user’s profile', body: UserBody, response: { 200: UserView, ...errors(400, 401, 403, 413, 415, 422) } },
  }, put);
};
