import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HeraldError } from '../../errors/index.ts';
import type { ApiKeyVerifier } from '../../auth/api-keys.ts';
import { DEFAULT_TOKEN_APP, type UserTokenVerifier } from '../../auth/user-tokens.ts';
import { isUserId } from '../../users/id.ts';
import { isSingleMailbox } from '../../users/email.ts';

/**
 * Who is calling: an application server (API key) or an end user (JWT or gateway headers).
 * An end user acts for one user of one app (`appId`) until `expiresAt` (a JWT's `exp`; gateway
 * callers are checked by the gateway on every request and carry none). `email` is set only when
 * the credentials carry one valid mailbox.
 */
export type Caller =
  | { readonly kind: 'admin'; readonly keyId: string }
  | {
      readonly kind: 'user';
      readonly userId: string;
      readonly email?: string | undefined;
      readonly appId: string;
      readonly expiresAt?: Date | undefined;
    };

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
      return user ? { kind: 'user', ...user } : undefined;
    }
    const keyId = await deps.apiKeys.verify(token);
    return keyId ? { kind: 'admin', keyId } : undefined;
  }
  if (deps.trustGatewayHeaders) {
    // The gateway vouches for these, but they are still what a user id and an e-mail must be: a
    // user id like a JWT `sub`, and the old NestJS system's `x-consumer-username` only when it is one mailbox
    // (a gateway's consumer name is often not an address at all). Gateway users belong to the
    // default app, as the old NestJS system's single app did.
    const header = request.headers['x-authenticated-userid'];
    const userId = typeof header === 'string' ? header.trim() : undefined;
    if (userId !== undefined && userId !== '') {
      if (!isUserId(userId)) return undefined;
      const email = request.headers['x-consumer-username'];
      return { kind: 'user', userId, email: isSingleMailbox(email) ? email : undefined, appId: DEFAULT_TOKEN_APP };
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

/**
 * The app a request acts in. An API key may name any app (`undefined`: the route's default);
 * a user token acts only in its own app, so naming another is 403 — otherwise a user could have
 * text they wrote sent with another app's credentials (its sender address, its webhook secret).
 */
export function requestApp(request: FastifyRequest, named: string | undefined, field = 'body.appId'): string | undefined {
  const caller = request.caller;
  if (caller?.kind !== 'user') return named;
  if (named !== undefined && named !== caller.appId) {
    throw new HeraldError('PERMISSION_DENIED', `This token is for app "${caller.appId}"; it cannot use app "${named}".`, [{ field, message: `this token may only use app "${caller.appId}"` }]);
  }
  return caller.appId;
}

/**
 * A stable identity for per-caller state such as idempotency keys. A user is a user of one app:
 * the same key sent with another app's token must not replay the first app's answer (app ids
 * have no ':', so the parts cannot run together).
 */
export function callerKey(caller: Caller | undefined): string {
  if (!caller) return 'anonymous';
  return caller.kind === 'admin' ? `key:${caller.keyId}` : `user:${caller.appId}:${caller.userId}`;
}
