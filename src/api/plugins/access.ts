import type { FastifyRequest } from 'fastify';
import type { KeyScope } from '../../auth/scopes.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope an API key needs for this route, when the table below would name another. */
    scope?: KeyScope;
  }
}

/**
 * The scope each admin route needs, by its path: reading (GET, HEAD) needs the first, changing
 * anything the second. The first match wins; a `/v1/` route matching none needs `admin`, so a
 * route added without a line here is closed rather than open.
 */
const RULES: readonly (readonly [RegExp, read: KeyScope, write: KeyScope])[] = [
  [/^\/v1\/keys(\/|$)/, 'keys:read', 'keys:write'],
  [/^\/v1\/audit(\/|$)/, 'admin', 'admin'],
  [/^\/v1\/apps\/:appId\/templates(\/|$)/, 'templates:read', 'templates:write'],
  [/^\/v1\/apps(\/|$)/, 'apps:read', 'apps:write'],
  [/^\/v1\/topics(\/|$)/, 'topics:read', 'topics:write'],
  [/^\/v1\/notifications(\/|$)/, 'notifications:read', 'notifications:write'],
  [/^\/v1\/users\/:userId\/events(\/|$)/, 'events:read', 'events:read'],
  [/^\/v1\/users\/:userId\/notifications(\/|$)/, 'notifications:read', 'notifications:write'],
  [/^\/v1\/users\/:userId\/topics(\/|$)/, 'topics:read', 'topics:write'],
  [/^\/v1\/users(\/|$)/, 'users:read', 'users:write'],
  [/^\/v1\/events(\/|$)/, 'events:read', 'events:read'],
];

export function requiredScope(request: FastifyRequest): KeyScope {
  const configured = request.routeOptions.config?.scope;
  if (configured) return configured;
  const url = request.routeOptions.url ?? '';
  const key = `${request.method} ${url}`;
  let scope = byRoute.get(key);
  if (scope === undefined) {
    scope = scopeOf(url, request.method === 'GET' || request.method === 'HEAD');
    // Routes are a fixed set; an unmatched URL's pattern is undefined, so this stays small.
    byRoute.set(key, scope);
  }
  return scope;
}

/** The scope of each route pattern and method, worked out on its first request. */
const byRoute = new Map<string, KeyScope>();

function scopeOf(url: string, reading: boolean): KeyScope {
  for (const [pattern, read, write] of RULES) if (pattern.test(url)) return reading ? read : write;
  return 'admin';
}
