import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HeraldError, notFound } from '../../errors/index.ts';

/** What operators read and the public need not: metrics, the API description and its browser. */
export function isOpsPath(url: string): boolean {
  const path = url.split('?')[0]!;
  return path === '/metrics' || path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/');
}

const digest = (text: string) => createHash('sha256').update(text).digest();

function tokenMatches(request: FastifyRequest, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  return match !== null && timingSafeEqual(digest(match[1]!), digest(token));
}

/**
 * /metrics, /openapi.json and /docs: not found on a server that does not serve them (the public
 * port once HERALD_OPS_PORT moves them), and 401 without HERALD_OPS_TOKEN when one is set.
 */
export function registerOpsAccess(app: FastifyInstance, options: { serveHere: boolean; token: string | undefined }): void {
  app.addHook('onRequest', async (request) => {
    if (!isOpsPath(request.url)) return;
    if (!options.serveHere) throw notFound('route');
    if (options.token !== undefined && !tokenMatches(request, options.token)) {
      throw new HeraldError('UNAUTHENTICATED', 'Send `Authorization: Bearer <HERALD_OPS_TOKEN>`.');
    }
  });
}
