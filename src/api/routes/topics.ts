import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requestApp, targetUserId } from '../plugins/auth.ts';
import { UserParams, errors } from '../schemas.ts';
import {
  CursorPageDefaultApp, CursorPageWithApp, DefaultAppQuery, KeyParams, Key, SubscriberList, Subscribed, SubscribersBody,
  TopicBody, TopicList, TopicView, Unsubscribed, UserTopicList,
} from '../audience-schemas.ts';
import { jsonOnly, type RouteDeps } from './scopes.ts';

/**
 * Topics (docs/audiences.md): admin routes manage topics and subscribers; `/v1/me/topics` lets an
 * end user see their subscriptions and join or leave topics that allow it (`selfSubscribe`).
 * A topic belongs to one app: `appId` in the body (PUT, subscribers) or query (default `default`).
 */
export const topicRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { services }) => {
  jsonOnly(app);
  const tags = ['topics'];
  const topics = services.topics;
  // A topic's app: `appId` in the body, else in the query (whose default is `default`).
  const bodyApp = (request: { body: { appId?: string | undefined }; query: { appId: string } }) => request.body.appId ?? request.query.appId;

  app.put('/v1/topics/:key', {
    schema: { tags, summary: 'Create or replace a topic', params: KeyParams, querystring: DefaultAppQuery, body: TopicBody, response: { 200: TopicView, ...errors(400, 401, 403, 413, 415, 422) } },
  }, async (request) => {
    return (await topics.put(bodyApp(request), request.params.key, request.body)).topic;
  });

  app.get('/v1/topics/:key', {
    schema: { tags, summary: 'A topic with its subscriber count', params: KeyParams, querystring: DefaultAppQuery, response: { 200: TopicView, ...errors(400, 401, 403, 404) } },
  }, async (request) => topics.get(request.query.appId, request.params.key));

  app.delete('/v1/topics/:key', {
    schema: { tags, summary: 'Delete a topic and its subscriptions', params: KeyParams, querystring: DefaultAppQuery, response: { 204: { type: 'null', description: 'deleted' }, ...errors(400, 401, 403, 404) } },
  }, async (request, reply) => {
    await topics.delete(request.query.appId, request.params.key);
    return reply.status(204).send(null);
  });

  app.get('/v1/topics', {
    schema: { tags, summary: 'Topics by app and key, a page at a time', querystring: CursorPageWithApp, response: { 200: TopicList, ...errors(400, 401, 403) } },
  }, async (request) => {
    const q = request.query;
    return topics.list(q.appId, q.limit, q.cursor);
  });

  app.post('/v1/topics/:key/subscribers', {
    schema: {
      tags,
      summary: 'Subscribe up to 10,000 users (idempotent; unknown users: 422 listing them, nobody subscribed)',
      params: KeyParams,
      querystring: DefaultAppQuery,
      body: SubscribersBody,
      response: { 200: Subscribed, ...errors(400, 401, 403, 404, 413, 415, 422) },
    },
  }, async (request) => topics.subscribe(bodyApp(request), request.params.key, request.body.userIds));

  app.delete('/v1/topics/:key/subscribers', {
    schema: {
      tags,
      summary: 'Unsubscribe up to 10,000 users (idempotent)',
      params: KeyParams,
      querystring: DefaultAppQuery,
      body: SubscribersBody,
      response: { 200: Unsubscribed, ...errors(400, 401, 403, 404, 413, 415) },
    },
  }, async (request) => topics.unsubscribe(bodyApp(request), request.params.key, request.body.userIds));

  app.get('/v1/topics/:key/subscribers', {
    schema: { tags, summary: 'A topic’s subscribers by user id, a page at a time', params: KeyParams, querystring: CursorPageDefaultApp, response: { 200: SubscriberList, ...errors(400, 401, 403, 404) } },
  }, async (request) => {
    const q = request.query;
    return topics.subscribers(q.appId, request.params.key, q.limit, q.cursor);
  });

  app.get('/v1/users/:userId/topics', {
    schema: { tags: [...tags, 'admin'], summary: 'The topics a user is subscribed to (every app, or `appId`)', params: UserParams, querystring: CursorPageWithApp, response: { 200: UserTopicList, ...errors(400, 401, 403) } },
  }, async (request) => {
    const q = request.query;
    return topics.userTopics(targetUserId(request), q.appId, q.limit, q.cursor);
  });

  // End users: their own subscriptions, in the app of their token.
  app.get('/v1/me/topics', {
    config: { auth: 'user' },
    schema: { tags: [...tags, 'me'], summary: 'The topics the calling user is subscribed to', querystring: Type.Omit(CursorPageWithApp, ['appId']), response: { 200: UserTopicList, ...errors(400, 401, 403) } },
  }, async (request) => {
    const q = request.query;
    return topics.userTopics(targetUserId(request), requestApp(request, undefined), q.limit, q.cursor);
  });

  const self = { config: { auth: 'user' as const }, schema: { tags: [...tags, 'me'], params: Type.Object({ key: Key }) } };
  app.put('/v1/me/topics/:key', {
    ...self,
    schema: { ...self.schema, summary: 'Subscribe oneself (404 unless the topic allows it)', response: { 200: Subscribed, ...errors(400, 401, 403, 404) } },
  }, async (request) => topics.subscribe(requestApp(request, undefined) ?? 'default', request.params.key, [targetUserId(request)], { requireSelfSubscribe: true, createUsers: true }));
  app.delete('/v1/me/topics/:key', {
    ...self,
    schema: { ...self.schema, summary: 'Unsubscribe oneself (404 unless the topic allows it)', response: { 200: Unsubscribed, ...errors(400, 401, 403, 404) } },
  }, async (request) => topics.unsubscribe(requestApp(request, undefined) ?? 'default', request.params.key, [targetUserId(request)], { requireSelfSubscribe: true }));
};
