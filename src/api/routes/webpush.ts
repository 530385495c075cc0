import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ApiDeps } from '../types.ts';
import { AppParams, errors } from '../schemas.ts';
import { HeraldError } from '../../errors/index.ts';

const VapidPublicKey = Type.Object({
  appId: Type.String(),
  publicKey: Type.String({ description: 'base64url P-256 public key: pass it as applicationServerKey to PushManager.subscribe()' }),
});

/**
 * The VAPID public key a browser subscribes with (`pushManager.subscribe({applicationServerKey})`).
 * Public and CORS-open: web pages on the application's own origin call it before any user is
 * signed in, and the key is public by design (RFC 8292 §3.2).
 */
export const webpushRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { services }) => {
  app.get('/v1/apps/:appId/webpush/vapid-public-key', {
    config: { auth: 'public' },
    schema: {
      tags: ['apps'],
      summary: 'The VAPID public key browsers subscribe with (no authentication)',
      security: [],
      params: AppParams,
      response: { 200: VapidPublicKey, ...errors(400, 404) },
    },
  }, async (request, reply) => {
    const { appId } = request.params;
    const credentials = await services.credentials.get(appId);
    const publicKey = credentials?.webpush?.vapidPublicKey;
    if (!publicKey) throw new HeraldError('NOT_FOUND', `No app ${appId} with Web Push keys.`, { resource: 'app', id: appId });
    void reply.header('access-control-allow-origin', '*').header('cache-control', 'public, max-age=300');
    return { appId, publicKey };
  });
};
