import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { ApiDeps } from '../types.ts';
import { targetUserId } from '../plugins/auth.ts';
import { errors } from '../schemas.ts';
import { SCOPES } from './scopes.ts';
import type { InboxItem } from '../../inbox/index.ts';

const Item = Type.Object({
  id: Type.String(),
  notificationId: Type.Union([Type.String(), Type.Null()]),
  title: Type.Union([Type.String(), Type.Null()]),
  body: Type.Union([Type.String(), Type.Null()]),
  data: Type.Record(Type.String(), Type.Unknown()),
  url: Type.Union([Type.String(), Type.Null()]),
  readAt: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});
const ListQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
  unread: Type.Boolean({ default: false }),
});
const ItemId = { itemId: Type.String({ minLength: 1, maxLength: 64 }) };
const KEEPALIVE_MS = 15_000;

/**
 * The in-app inbox (docs/api.md § Inbox): list, mark read, and a Server-Sent Events stream with one
 * `inbox` event per new item. A reconnecting EventSource sends Last-Event-ID and gets the items
 * it missed first.
 */
export const inboxRoutes: FastifyPluginAsync<ApiDeps> = async (app, { services }) => {
  const tags = ['inbox'];
  // Open streams hold their connections; end them before the server closes (else close waits).
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const close of open) close();
  });
  for (const scope of SCOPES) {
    app.get(`${scope.prefix}/inbox`, {
      config: { auth: scope.auth },
      schema: {
        tags: [...tags, scope.tag],
        summary: 'Inbox items, newest first',
        params: scope.params(),
        querystring: ListQuery,
        response: { 200: Type.Object({ items: Type.Array(Item), total: Type.Integer(), unread: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }), ...errors(400, 401, 403) },
      },
    }, async (request) => {
      const q = request.query as { limit: number; offset: number; unread: boolean };
      return services.inbox.list(targetUserId(request), q.limit, q.offset, q.unread);
    });

    app.post(`${scope.prefix}/inbox/:itemId/read`, {
      config: { auth: scope.auth },
      schema: { tags: [...tags, scope.tag], summary: 'Mark an inbox item read', params: scope.params(ItemId), response: { 200: Item, ...errors(400, 401, 403, 404) } },
    }, async (request) => services.inbox.markRead(targetUserId(request), (request.params as { itemId: string }).itemId));

    app.post(`${scope.prefix}/inbox/read-all`, {
      config: { auth: scope.auth },
      schema: { tags: [...tags, scope.tag], summary: 'Mark every unread inbox item read', params: scope.params(), response: { 200: Type.Object({ marked: Type.Integer() }), ...errors(400, 401, 403) } },
    }, async (request) => services.inbox.markAllRead(targetUserId(request)));

    app.get(`${scope.prefix}/inbox/stream`, {
      config: { auth: scope.auth },
      schema: { tags: [...tags, scope.tag], summary: 'Server-Sent Events: one `inbox` event per new item', params: scope.params(), response: { ...errors(401, 403) } },
    }, async (request, reply) => {
      const userId = targetUserId(request);
      const lastEventId = request.headers['last-event-id'];
      reply.hijack();
      const res = reply.raw;
      // Subscribed before answering: once a client sees the stream open, every item stored from
      // then on reaches it. Items forwarded before the headers are out wait in `early`.
      const early: InboxItem[] = [];
      const write = (item: InboxItem) => res.write(`id: ${item.id}\nevent: inbox\ndata: ${JSON.stringify(item)}\n\n`);
      const send = (item: InboxItem) => (res.headersSent ? write(item) : early.push(item));
      // Cleanup is wired before the first await: a client that leaves (or a shutdown that starts)
      // while the subscription is being set up must not leave a subscription and a timer behind.
      let ended = false;
      let unsubscribe: (() => void) | undefined;
      let keepalive: ReturnType<typeof setInterval> | undefined;
      const end = () => {
        if (ended) return; // close() ends the response, whose 'close' event calls end() again
        ended = true;
        clearInterval(keepalive);
        unsubscribe?.();
        open.delete(close);
      };
      // On shutdown the stream ends and EventSource reconnects (to another replica).
      const close = () => {
        end();
        res.end();
      };
      open.add(close);
      request.raw.once('close', end);
      const stop = await services.inbox.subscribe(userId, send);
      if (ended) {
        stop();
        return;
      }
      unsubscribe = stop;
      // reply.hijack() skips Fastify's header handling: carry over what hooks set (CORS).
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) res.setHeader(name, value);
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(`retry: 3000\n: connected\n\n`);
      for (const item of early.splice(0)) write(item);
      if (typeof lastEventId === 'string' && lastEventId.length > 0 && lastEventId.length <= 64) {
        for (const item of await services.inbox.since(userId, lastEventId).catch(() => [])) send(item);
      }
      if (!ended) keepalive = setInterval(() => res.write(': keep-alive\n\n'), KEEPALIVE_MS);
    });
  }
};
