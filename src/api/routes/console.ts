import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import staticFiles from '@fastify/static';
import type { FastifyError, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiDeps } from '../types.ts';
import { errorBody } from '../plugins/errors.ts';
import { errors } from '../schemas.ts';
import { notFound } from '../../errors/index.ts';
import { jsonOnly } from './scopes.ts';
import { NotificationEvents, NotificationParams, AppList, DeadLetterPage, DeadLetterQuery, DeliveryStats, Redrive, Redriven, StatsQuery, UserSearchPage, UserSearchQuery } from '../console-schemas.ts';

/**
 * The operator console (docs/console.md): its page at `/console/`, built by `npm run build` into
 * packages/console/dist (the same relative place from src/ and from the compiled dist/), and the
 * JSON it reads beyond the other /v1 routes. Every JSON route needs an admin API key, like the
 * rest of /v1 outside /v1/me: a user token is refused (403), a wrong key too (401).
 */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../packages/console/dist/', import.meta.url));

/** The console talks only to herald itself; nothing else may run or frame it. */
const CONSOLE_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/** The apps an app-limited key may see (plugins/app-limits.ts); undefined: every app. */
const limitedApps = (request: FastifyRequest): readonly string[] | undefined =>
  request.caller?.kind === 'admin' && request.caller.appIds !== null ? request.caller.appIds : undefined;

export const consoleRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { services }) => {
  jsonOnly(app);
  const tags = ['console'];

  app.get('/v1/stats/deliveries', {
    config: { deploymentWide: true },
    schema: {
      tags,
      summary: 'Delivery outcomes per minute by channel, lateness percentiles, failures by provider and the due backlog',
      querystring: StatsQuery,
      response: { 200: DeliveryStats, ...errors(400, 401, 403) },
    },
  }, async (request) => services.console.overview(request.query.minutes));

  app.get('/v1/dead-letters', {
    schema: {
      tags,
      summary: 'Failed deliveries, newest first, filtered by app, channel, provider and error text',
      querystring: DeadLetterQuery,
      response: { 200: DeadLetterPage, ...errors(400, 401, 403) },
    },
  }, async (request) => services.console.deadLetters(request.query));

  app.post('/v1/dead-letters/redrive', {
    schema: {
      tags,
      summary: 'Send chosen failed deliveries again from the first attempt (ids no longer failed are skipped)',
      body: Redrive,
      response: { 202: Redriven, ...errors(400, 401, 403, 413, 415) },
    },
  }, async (request, reply) => {
    // An app-limited key re-drives only its apps' deliveries; others are skipped like ids no longer failed.
    const ids = await services.console.redrive([...new Set(request.body.ids)], limitedApps(request));
    return reply.status(202).send({ redriven: ids.length, ids });
  });

  app.get('/v1/notifications/:notificationId/events', {
    schema: {
      tags: [...tags, 'notifications'],
      summary: 'A notification’s history: the events about it (created, sent, failed, retried, cancelled), oldest first',
      params: NotificationParams,
      response: { 200: NotificationEvents, ...errors(400, 401, 403, 404) },
    },
  }, async (request) => {
    const { notificationId } = request.params;
    const items = await services.console.notificationEvents(notificationId, 500);
    if (!items) throw notFound('notification', notificationId);
    return { items };
  });

  app.get('/v1/users', {
    schema: {
      tags: [...tags, 'users'],
      summary: 'Find users by the start of their id, or of their e-mail address when the query has an @',
      querystring: UserSearchQuery,
      response: { 200: UserSearchPage, ...errors(400, 401, 403) },
    },
  }, async (request) => {
    const q = request.query;
    return services.console.users(q.query, q.limit, q.cursor, limitedApps(request));
  });

  app.get('/v1/apps', {
    schema: { tags: [...tags, 'apps'], summary: 'Every app: configured channels, reported problems and the VAPID public key', response: { 200: AppList, ...errors(401, 403) } },
  }, async (request) => {
    const limited = limitedApps(request);
    const ids = (await services.console.appIds(500)).filter((id) => !limited || limited.includes(id));
    const items = await Promise.all(ids.map(async (id) => {
      const [view, credentials] = await Promise.all([services.apps.get(id).catch(() => undefined), services.credentials.get(id)]);
      if (!view) return undefined;
      const vapidPublicKey = credentials?.webpush?.vapidPublicKey;
      return { ...view, createdAt: view.createdAt?.toISOString() ?? null, updatedAt: view.updatedAt?.toISOString() ?? null, ...(vapidPublicKey ? { vapidPublicKey } : {}) };
    }));
    return { items: items.filter((i) => i !== undefined) };
  });

  await app.register(consolePage);
};

/** The page and its hashed assets; `/console` redirects to `/console/`. Public: it holds no data. */
const consolePage: FastifyPluginAsync = async (app) => {
  if (!existsSync(CONSOLE_DIR)) app.log.warn({ dir: CONSOLE_DIR }, 'the console is not built (npm run build): /console answers 404');
  app.get('/console', { config: { auth: 'public' }, schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/'));
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if ((error.statusCode ?? 500) >= 500) throw error;
    return reply.status(404).send(errorBody('NOT_FOUND', `No console file ${request.url.split('?')[0]}.`));
  });
  await app.register(staticFiles, {
    root: CONSOLE_DIR,
    prefix: '/console/',
    decorateReply: false,
    index: ['index.html'],
    list: false,
    dotfiles: 'ignore',
    suppressWarning: true,
    // Asset names carry a content hash: cached for good. The page itself is revalidated, so an
    // upgrade is seen at the next load.
    setHeaders: (reply, path) => {
      void reply.header('content-security-policy', CONSOLE_CSP);
      void reply.header('cache-control', path.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable');
    },
  });
};
