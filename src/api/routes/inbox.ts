import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ApiDeps } from '../types.ts';
import { targetUserId } from '../plugins/auth.ts';
import { errors } from '../schemas.ts';
import { SCOPES } from './scopes.ts';
import type { InboxItem, LiveStream } from '../../inbox/index.ts';
import { HeraldError } from '../../errors/index.ts';

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
// A stream frees its slot when its client goes; a refused client retries after this.
const STREAM_RETRY_AFTER_SECONDS = 30;

/**
 * The in-app inbox (docs/api.md § Inbox): list, mark read, and a Server-Sent Events stream with one
 * `inbox` event per new item. A reconnecting EventSource sends Last-Event-ID and gets the items
 * it missed first.
 */
export const inboxRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { services }) => {
  const tags = ['inbox'];
  // Open streams hold their connections; end them before the server closes (else close waits).
  // On shutdown the stream ends and EventSource reconnects (to another replica).
  const open = new Set<LiveStream>();
  app.addHook('preClose', async () => {
    for (const stream of [...open]) stream.close();
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
      const q = request.query;
      return services.inbox.list(targetUserId(request), q.limit, q.offset, q.unread);
    });

    app.post(`${scope.prefix}/inbox/:itemId/read`, {
      config: { auth: scope.auth },
      schema: { tags: [...tags, scope.tag], summary: 'Mark an inbox item read', params: scope.params(ItemId), response: { 200: Item, ...errors(400, 401, 403, 404) } },
    }, async (request) => services.inbox.markRead(targetUserId(request), request.params.itemId));

    app.post(`${scope.prefix}/inbox/read-all`, {
      config: { auth: scope.auth },
      schema: { tags: [...tags, scope.tag], summary: 'Mark every unread inbox item read', params: scope.params(), response: { 200: Type.Object({ marked: Type.Integer() }), ...errors(400, 401, 403) } },
    }, async (request) => services.inbox.markAllRead(targetUserId(request)));

    app.get(`${scope.prefix}/inbox/stream`, {
      config: { auth: scope.auth },
      schema: {
        tags: [...tags, scope.tag],
        summary: 'Server-Sent Events: one `inbox` event per new item; `expired` before the stream ends with its token',
        params: scope.params(),
        response: { ...errors(401, 403, 429) },
      },
    }, async (request, reply) => {
      const userId = targetUserId(request);
      const stream = services.inbox.openStream(userId);
      if (!stream) {
        // Refuse the newest rather than close the oldest: EventSource reconnects a closed stream,
        // so evicting would make a user's tabs take turns closing each other every few seconds.
        throw new HeraldError('RATE_LIMITED', `At most ${services.inbox.maxStreamsPerUser} open inbox streams per user.`, undefined, { 'retry-after': String(STREAM_RETRY_AFTER_SECONDS) });
      }
      const res = reply.raw;
      reply.hijack();
      // From here every way out — the client leaving (even before setup finishes), the token
      // expiring, shutdown, a failed setup step — is stream.close(), which runs once and frees the
      // subscription, the timers and the user's slot.
      open.add(stream);
      stream.onClose(() => {
        open.delete(stream);
        res.end();
      });
      res.once('close', () => stream.close());
      // The client may have gone while the request was authenticated: 'close' was then emitted
      // before anyone listened.
      if (res.destroyed || request.raw.socket.destroyed) return stream.close();

      // Subscribed before answering: once a client sees the stream open, every item stored from
      // then on reaches it. Items forwarded before the headers are out wait in `early`.
      const early: InboxItem[] = [];
      const write = (item: InboxItem) => res.write(`id: ${item.id}\nevent: inbox\ndata: ${JSON.stringify(item)}\n\n`);
      const send = (item: InboxItem) => (res.headersSent ? write(item) : early.push(item));
      try {
        await stream.subscribe(send);
      } catch (err) {
        request.log.warn({ err }, 'inbox stream setup failed');
        return stream.close();
      }
      if (stream.closed) return;
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
      const lastEventId = request.headers['last-event-id'];
      if (typeof lastEventId === 'string' && lastEventId.length > 0 && lastEventId.length <= 64) {
        for (const item of await services.inbox.since(userId, lastEventId).catch(() => [])) if (!stream.closed) send(item);
      }
      stream.every(KEEPALIVE_MS, () => res.write(': keep-alive\n\n'));
      // A stream must not outlive the token that opened it: say why, then end it. The client
      // reconnects with a fresh token (the expired one is refused).
      const expiresAt = request.caller?.kind === 'user' ? request.caller.expiresAt : undefined;
      if (expiresAt) {
        stream.at(expiresAt, () => {
          res.write(`event: expired\ndata: ${JSON.stringify({ reason: 'token expired' })}\n\n`);
          stream.close();
        });
      }
    });
  }
};
