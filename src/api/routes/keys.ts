import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HeraldError } from '../../errors/index.ts';
import { KEY_SCOPES, type KeyScope } from '../../auth/scopes.ts';
import type { ApiKeyRecord } from '../../auth/api-keys.ts';
import type { Grantor } from '../../auth/key-service.ts';
import { AppId, errors } from '../schemas.ts';
import { jsonOnly, type RouteDeps } from './scopes.ts';

const Scope = Type.Union(KEY_SCOPES.map((s) => Type.Literal(s)), { description: 'a capability (docs/security.md § Scoped keys)' });
const KeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    scopes: Type.Array(Scope, { minItems: 1, maxItems: KEY_SCOPES.length, uniqueItems: true }),
    appIds: Type.Optional(Type.Array(AppId, { minItems: 1, maxItems: 100, uniqueItems: true, description: 'limit the key to these apps; absent: every app' })),
    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'the key stops working then; absent: never' })),
  },
  { additionalProperties: false },
);
const KeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String({ description: 'the first characters of the key, to recognise it' }),
  scopes: Type.Array(Type.String()),
  appIds: Type.Union([Type.Array(Type.String()), Type.Null()]),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  createdBy: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
});
const CreatedKey = Type.Intersect([KeyView, Type.Object({ key: Type.String({ description: 'the secret: shown this once, stored only as a hash' }) })]);
const KeyParams = Type.Object({ keyId: Type.String({ minLength: 1, maxLength: 64 }) });

declare module 'fastify' {
  interface FastifyInstance {
    /** Drop a revoked key from this process's cache at once (api/app.ts). */
    keyRevoked(id: string): void;
  }
}

function keyView(k: ApiKeyRecord) {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: [...k.scopes],
    appIds: k.appIds ? [...k.appIds] : null,
    expiresAt: k.expiresAt?.toISOString() ?? null,
    createdBy: k.createdBy,
    createdAt: k.createdAt.toISOString(),
  };
}

function grantor(request: FastifyRequest): Grantor {
  const caller = request.caller;
  if (caller?.kind !== 'admin') throw new HeraldError('PERMISSION_DENIED');
  return caller;
}

/** API keys (docs/api.md § Keys): create with scopes, apps and expiry; list; revoke at once everywhere. */
export const keyRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { services }) => {
  jsonOnly(app);
  const tags = ['keys'];
  app.post('/v1/keys', {
    schema: { tags, summary: 'Create an API key with some scopes, optionally limited to apps and until a time (the key is shown once)', body: KeyBody, response: { 201: CreatedKey, ...errors(400, 401, 403, 413, 415, 422) } },
  }, async (request, reply) => {
    const { key, record } = await services.keys.create(grantor(request), request.body);
    return reply.status(201).send({ ...keyView(record), key });
  });
  app.get('/v1/keys', {
    schema: { tags, summary: 'The keys in use that this key could have created (never their secrets)', response: { 200: Type.Object({ items: Type.Array(KeyView) }), ...errors(401, 403) } },
  }, async (request) => ({ items: (await services.keys.list(grantor(request))).map(keyView) }));
  app.delete('/v1/keys/:keyId', {
    schema: { tags, summary: 'Revoke a key; every API process refuses it at once', params: KeyParams, response: { 204: { type: 'null', description: 'revoked' }, ...errors(400, 401, 403, 404) } },
  }, async (request, reply) => {
    const { keyId } = request.params;
    await services.keys.revoke(grantor(request), keyId);
    app.keyRevoked(keyId);
    return reply.status(204).send(null);
  });
};
