import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HeraldError } from '../../errors/index.ts';
import type { ApiKeyVerifier } from '../../auth/api-keys.ts';
import type { UserTokenVerifier } from '../../auth/user-tokens.ts';

/** Who is calling: an application server (API key) or an end user (JWT or gateway headers). */
export type Caller =
  | { readonly kind: 'admin'; readonly keyId: string }
  | { readonly kind: 'user'; readonly userId: string; readonly email?: string | undefined };

/** What a route requires; set per route as `config: { auth: ... }`. Default: admin. */
export type AuthRequirement = 'public' | 'admin' | 'user';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | undefined;
  }
  interface FastifyContextConfig {
    auth?: AuthRequirement;
  }
}

export interface AuthDeps {
  readonly apiKeys: ApiKeyVerifier;
  readonly userTokens: UserTokenVerifier;
  readonly trustGatewayHeaders: boolean;
}

async function resolveCaller(request: FastifyRequest, deps: AuthDeps): Promise<Caller | undefined> {
  const header = request.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return undefined;
    const token = match[1]!;
    // A JWT is three dot-separated parts; anything else is an API key (generated ones start
    // with hk_, but HERALD_API_KEY may be any string the operator chose).
    if (token.split('.').length === 3) {
      if (!deps.userTokens.enabled) return undefined;
      const user = await deps.userTokens.verify(token);
      return user ? { kind: 'user', userId: user.userId, email: user.email } : undefined;
    }
    const keyId = await deps.apiKeys.verify(token);
    return keyId ? { kind: 'admin', keyId } : undefined;
  }
  if (deps.trustGatewayHeaders) {
    const userId = request.headers['x-authenticated-userid'];
    if (typeof userId === 'string' && userId.trim() !== '') {
      const email = request.headers['x-consumer-username'];
      return { kind: 'user', userId: userId.trim(), email: typeof email === 'string' ? email : undefined };
    }
  }
  return undefined;
}

export function registerAuth(app: FastifyInstance, deps: AuthDeps): void {
  app.decorateRequest('caller', undefined);
  app.addHook('onRequest', async (request) => {
    const required: AuthRequirement = request.routeOptions.config?.auth ?? (request.routeOptions.url?.startsWith('/v1/') ? 'admin' : 'public');
    if (required === 'public') return;
    const caller = await resolveCaller(request, deps);
    if (!caller) throw new HeraldError('UNAUTHENTICATED', 'Send `Authorization: Bearer <api key or user token>`.');
    if (required === 'admin' && caller.kind !== 'admin') {
      throw new HeraldError('PERMISSION_DENIED', 'User credentials may only use /v1/me/...');
    }
    if (required === 'user' && caller.kind !== 'user') {
      throw new HeraldError('PERMISSION_DENIED', '/v1/me/... needs a user token; with an API key use /v1/users/{userId}/...');
    }
    request.caller = caller;
  });
}

/** The user a request acts for: `/v1/me/...` → the caller; `/v1/users/{userId}/...` → the path. */
export function targetUserId(request: FastifyRequest): string {
  const caller = request.caller;
  if (caller?.kind === 'user') return caller.userId;
  const userId = (request.params as { userId?: unknown } | undefined)?.userId;
  if (typeof userId !== 'string' || userId === '') throw new HeraldError('VALIDATION_FAILED', 'userId is required');
  return userId;
}

/** A stable identity for per-caller state such as idempotency keys. */
export function callerKey(caller: Caller | undefined): string {
  if (!caller) return 'anonymous';
  return caller.kind === 'admin' ? `key:${caller.keyId}` : `user:${caller.userId}`;
}
