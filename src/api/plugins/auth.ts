import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HeraldError, notFound } from '../../errors/index.ts';
import type { ApiKeyVerifier } from '../../auth/key-verifier.ts';
import { hasScope, type KeyScope } from '../../auth/scopes.ts';
import type { LimitDecision, LimitRule, RateLimiter } from '../../limits/index.ts';
import { requiredScope } from './access.ts';
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
  | {
      readonly kind: 'admin';
      readonly keyId: string;
      /** What the key may do (docs/security.md § Scoped keys). */
      readonly scopes: readonly KeyScope[];
      /** The apps the key is limited to; null: every app. */
      readonly appIds: readonly string[] | null;
      readonly expiresAt: Date | null;
    }
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
    /** The route reports on every app (plugins/app-limits.ts): refused to app-limited keys. */
    deploymentWide?: boolean;
  }
}

export interface AuthDeps {
  readonly apiKeys: ApiKeyVerifier;
  readonly userTokens: UserTokenVerifier;
  readonly trustGatewayHeaders: boolean;
  readonly limiter: RateLimiter;
  /** Requests per window per key, per end user, and failed authentications per client address; limit 0: none. */
  readonly limits: { readonly perKey: LimitRule; readonly perUser: LimitRule; readonly authFailures: LimitRule };
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
    const key = await deps.apiKeys.verify(token);
    return key ? { kind: 'admin', keyId: key.id, scopes: key.scopes, appIds: key.appIds, expiresAt: key.expiresAt } : undefined;
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

/** 429 with Retry-After; the RateLimit-* headers go on every limited answer. */
function limitHeaders(d: LimitDecision, rule: LimitRule): Record<string, string> {
  return {
    'ratelimit-limit': String(d.limit),
    'ratelimit-remaining': String(d.remaining),
    'ratelimit-reset': String(d.resetSeconds),
    'ratelimit-policy': `${rule.limit};w=${rule.windowSeconds}`,
  };
}
function rateLimited(d: LimitDecision, rule: LimitRule, what: string): HeraldError {
  return new HeraldError('RATE_LIMITED', `Too many ${what}; retry after ${d.resetSeconds} s.`, { limit: d.limit, windowSeconds: rule.windowSeconds, retryAfter: d.resetSeconds }, {
    ...limitHeaders(d, rule),
    'retry-after': String(d.resetSeconds),
  });
}

export function registerAuth(app: FastifyInstance, deps: AuthDeps): void {
  const { limiter, limits } = deps;
  app.decorateRequest('caller', undefined);
  app.addHook('onRequest', async (request, reply) => {
    const required: AuthRequirement = request.routeOptions.config?.auth ?? (request.routeOptions.url?.startsWith('/v1/') ? 'admin' : 'public');
    if (required === 'public') return;
    // A client address that failed to authenticate too often is refused before its credentials
    // are even looked at: a flood of guessed keys costs no database query once refused.
    const failures = `auth:${request.ip}`;
    const blocked = limits.authFailures.limit > 0 ? limiter.blocked(failures) : undefined;
    if (blocked) throw rateLimited(blocked, limits.authFailures, 'failed authentications from this address');
    const caller = await resolveCaller(request, deps);
    if (!caller) {
      // Only credentials that were presented and failed count: a request with none is not a guess.
      const presented = request.headers.authorization !== undefined;
      if (presented && limits.authFailures.limit > 0) {
        const d = limiter.count(failures, limits.authFailures);
        if (!d.allowed) throw rateLimited(d, limits.authFailures, 'failed authentications from this address');
      }
      throw new HeraldError('UNAUTHENTICATED', 'Send `Authorization: Bearer <api key or user token>`.');
    }
    const rule = caller.kind === 'admin' ? limits.perKey : limits.perUser;
    if (rule.limit > 0) {
      const d = await limiter.hit(callerKey(caller), rule);
      if (!d.allowed) throw rateLimited(d, rule, caller.kind === 'admin' ? 'requests with this API key' : 'requests from this user');
      void reply.headers(limitHeaders(d, rule));
    }
    if (required === 'admin' && caller.kind !== 'admin') {
      throw new HeraldError('PERMISSION_DENIED', 'User credentials may only use /v1/me/...');
    }
    if (required === 'user' && caller.kind !== 'user') {
      throw new HeraldError('PERMISSION_DENIED', '/v1/me/... needs a user token; with an API key use /v1/users/{userId}/...');
    }
    if (caller.kind === 'admin') {
      const scope = requiredScope(request);
      if (!hasScope(caller.scopes, scope)) {
        throw new HeraldError('FORBIDDEN', `This API key lacks the scope "${scope}".`, [{ scope, message: `needs scope ${scope}` }]);
      }
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
  if (caller?.kind === 'admin') {
    // An app-limited key: another app is not found (plugins/app-limits.ts); none named is its first app.
    if (caller.appIds === null) return named;
    if (named === undefined) return caller.appIds[0];
    if (!caller.appIds.includes(named)) throw notFound('app', named);
    return named;
  }
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
