import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors } from '../schemas.ts';
import type { RouteDeps } from './scopes.ts';
import { notFound } from '../../errors/index.ts';

// No maxLength: a token too long to be one is a token that does not verify, 404 like any other (the router caps a path parameter's length).
const Params = Type.Object({ token: Type.String({ minLength: 1 }) });

/**
 * RFC 8058 one-click unsubscribe: `POST /v1/unsubscribe/{token}` needs no credentials (the signed
 * token is the credential). Mailbox providers POST `List-Unsubscribe=One-Click` as a form, so
 * form bodies are accepted here and ignored. `GET` shows a page with a button and changes
 * nothing: link scanners and prefetchers follow GET links, and must not unsubscribe anyone.
 */
export const unsubscribeRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { services }) => {
  for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data']) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: 4096 }, (_request, _body, done) => done(null, undefined));
  }
  const tags = ['preferences'];

  app.post('/v1/unsubscribe/:token', {
    config: { auth: 'public' },
    schema: {
      tags,
      summary: 'One-click unsubscribe (RFC 8058): switch off this type’s e-mail for the link’s user; works once',
      security: [],
      params: Params,
      response: { 200: Type.Object({ unsubscribed: Type.Boolean(), appId: Type.String(), type: Type.String(), channel: Type.Literal('email') }), ...errors(400, 404, 413, 415) },
    },
  }, async (request) => {
    const done = await services.preferences.unsubscribe(request.params.token);
    return { unsubscribed: true, appId: done.appId, type: done.type, channel: 'email' as const };
  });

  app.get('/v1/unsubscribe/:token', {
    config: { auth: 'public' },
    schema: { tags, summary: 'A page with an unsubscribe button (a GET changes nothing)', security: [], params: Params, produces: ['text/html'], response: { 200: Type.String(), ...errors(400, 404) } },
  }, async (request, reply) => {
    const token = request.params.token;
    if (!services.unsubscribeLinks.verify(token)) throw notFound('unsubscribe link');
    const form = `<form method="post" action="${encodeURIComponent(token)}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`;
    return reply.type('text/html; charset=utf-8').send(page('Stop these e-mails?', form));
  });
};

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;
}
