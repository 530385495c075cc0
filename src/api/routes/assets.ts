import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import staticFiles from '@fastify/static';
import type { FastifyError, FastifyPluginAsync } from 'fastify';
import { errorBody } from '../plugins/errors.ts';

/**
 * Browser assets herald serves itself, so an app needs no CDN or second service:
 * `GET /assets/herald-inbox.js` is the `<herald-inbox>` web component, built by `npm run build`
 * into packages/inbox/dist (the same relative place from src/ and from the compiled dist/).
 *
 * Public and cacheable: the file holds no secret. Browsers fetch module scripts in CORS mode, so
 * every origin may load it (`access-control-allow-origin: *`); what the component then calls is
 * governed by HERALD_CORS_ORIGINS. The name carries no content hash, so caches keep it an hour
 * and revalidate with the ETag after an upgrade.
 */
export const ASSETS_DIR = fileURLToPath(new URL('../../../packages/inbox/dist/', import.meta.url));

export const assetRoutes: FastifyPluginAsync = async (app) => {
  if (!existsSync(ASSETS_DIR)) app.log.warn({ dir: ASSETS_DIR }, 'the <herald-inbox> component is not built (npm run build): /assets/herald-inbox.js answers 404');
  // A directory, a `..` or a dotfile is refused by the plugin with 403: to a client it is simply
  // not an asset.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if ((error.statusCode ?? 500) >= 500) throw error;
    return reply.status(404).send(errorBody('NOT_FOUND', `No asset ${request.url.split('?')[0]}.`));
  });
  await app.register(staticFiles, {
    root: ASSETS_DIR,
    prefix: '/assets/',
    decorateReply: false,
    index: false,
    list: false,
    maxAge: 3_600_000,
    dotfiles: 'ignore',
    // The directory exists only after a build; until then a request is a plain 404 and the
    // warning below says why (the plugin's own warning names no cause).
    suppressWarning: true,
    setHeaders: (reply) => {
      void reply.header('access-control-allow-origin', '*').header('cross-origin-resource-policy', 'cross-origin');
    },
  });
};
