import { Type, type TObject, type TProperties } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthRequirement } from '../plugins/auth.ts';
import { UserId } from '../schemas.ts';
import type { ApiServices } from '../types.ts';

/** What these route modules need (a subset of ApiDeps, named here so routes do not import app.ts back). */
export interface RouteDeps {
  readonly services: ApiServices;
}

/**
 * Admin routes `/v1/users/{userId}/...` (API key) and user routes `/v1/me/...` (user JWT or
 * gateway headers) share their handlers; `targetUserId` picks the user from the path or the
 * token. Another user's resource through /v1/me is simply not found.
 */
export interface Scope {
  readonly prefix: string;
  readonly auth: AuthRequirement;
  readonly tag: string;
  /** The path parameters: the scope's own (`userId` for admin routes, read through targetUserId) and `extra`. */
  params<T extends TProperties = {}>(extra?: T): TObject<T>;
}

export const SCOPES: readonly Scope[] = [
  { prefix: '/v1/users/:userId', auth: 'admin', tag: 'admin', params: <T extends TProperties>(extra?: T) => Type.Object({ userId: UserId, ...extra }) as unknown as TObject<T> },
  { prefix: '/v1/me', auth: 'user', tag: 'me', params: <T extends TProperties>(extra?: T) => Type.Object({ ...extra }) as TObject<T> },
];

/**
 * Only JSON bodies: Fastify would also parse text/plain, which then fails schema validation
 * with a confusing 400; without the parser such a request is the 415 docs/api.md promises.
 */
export function jsonOnly(app: FastifyInstance): void {
  app.removeContentTypeParser('text/plain');
}

/**
 * The e-mail address an end user's credentials carry (JWT `email` claim, gateway
 * `x-consumer-username`); the auth plugin keeps it only when it is one mailbox.
 */
export function callerEmail(request: FastifyRequest): string | undefined {
  const caller = request.caller;
  return caller?.kind === 'user' ? caller.email : undefined;
}
