import cors from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * CORS for the end-user API (`/v1/me/...`), so a page on another origin can embed
 * `<herald-inbox>` or call herald with a user token (HERALD_CORS_ORIGINS; none by default).
 * Admin routes never get CORS headers: an API key does not belong in a browser. Requests carry
 * a bearer token, not cookies, so credentials mode stays off.
 *
 * Registered before authentication so that preflights (which carry no Authorization header) are
 * answered first, and a 401 still carries the headers that let the page read the error.
 */
const EXPOSED = ['retry-after', 'idempotent-replayed'];

function isUserRoute(request: FastifyRequest): boolean {
  const path = request.url.split('?')[0] ?? '';
  return path === '/v1/me' || path.startsWith('/v1/me/');
}

export async function registerCors(app: FastifyInstance, origins: readonly string[]): Promise<void> {
  if (origins.length === 0) return;
  const origin = origins.includes('*') ? '*' : [...origins];
  await app.register(cors, {
    delegator: (request, callback) => {
      callback(null, isUserRoute(request)
        ? { origin, methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], exposedHeaders: EXPOSED, maxAge: 600 }
        : { origin: false });
    },
  });
}
