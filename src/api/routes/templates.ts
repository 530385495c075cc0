import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppParams, errors } from '../schemas.ts';
import { PreviewBody, PreviewView, TemplateBody, TemplateList, TemplateParams, TemplateVersionParams, TemplateView, VersionList } from '../template-schemas.ts';
import { jsonOnly, type RouteDeps } from './scopes.ts';
import type { RenderedChannel, TemplateVersion } from '../../templates/index.ts';

/** Templates (docs/templates.md): versioned per app, rendered per recipient; admin (API key) routes. */
export const templateRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { services }) => {
  jsonOnly(app);
  const tags = ['templates'];
  const templates = services.templates;
  const one = '/v1/apps/:appId/templates/:key';

  app.put(one, {
    schema: {
      tags,
      summary: 'Save a new version of a template (an identical definition keeps the latest version)',
      params: TemplateParams,
      body: TemplateBody,
      response: { 200: TemplateView, ...errors(400, 401, 403, 404, 413, 415, 422) },
    },
  }, async (request) => {
    const { appId, key } = request.params;
    return templateView(await templates.put(appId, key, request.body));
  });

  app.get('/v1/apps/:appId/templates', {
    schema: { tags, summary: 'The app’s templates (latest versions) and the built-in ones', params: AppParams, response: { 200: TemplateList, ...errors(400, 401, 403, 404) } },
  }, async (request) => {
    const items = await templates.list(request.params.appId);
    return { items: items.map((t) => ({ ...t, updatedAt: t.updatedAt ? t.updatedAt.toISOString() : null })) };
  });

  app.get(one, {
    schema: { tags, summary: 'The latest version of a template', params: TemplateParams, response: { 200: TemplateView, ...errors(400, 401, 403, 404) } },
  }, async (request) => {
    const { appId, key } = request.params;
    return templateView(await templates.get(appId, key));
  });

  app.delete(one, {
    schema: { tags, summary: 'Delete a template; queued notifications still render their pinned version', params: TemplateParams, response: { 204: { type: 'null', description: 'deleted' }, ...errors(400, 401, 403, 404, 409) } },
  }, async (request, reply) => {
    const { appId, key } = request.params;
    await templates.delete(appId, key);
    return reply.status(204).send(null);
  });

  app.get(`${one}/versions`, {
    schema: { tags, summary: 'Every version of a template, newest first', params: TemplateParams, response: { 200: VersionList, ...errors(400, 401, 403, 404) } },
  }, async (request) => {
    const { appId, key } = request.params;
    const items = await templates.versions(appId, key);
    return { items: items.map((v) => ({ ...v, createdAt: v.createdAt ? v.createdAt.toISOString() : null })) };
  });

  app.get(`${one}/versions/:version`, {
    schema: { tags, summary: 'One version of a template (deleted templates’ versions stay readable)', params: TemplateVersionParams, response: { 200: TemplateView, ...errors(400, 401, 403, 404) } },
  }, async (request) => {
    const { appId, key, version } = request.params;
    return templateView(await templates.version(appId, key, version));
  });

  app.post(`${one}/render`, {
    schema: {
      tags,
      summary: 'Preview: render a template for a locale, time zone and data exactly as a delivery would',
      params: TemplateParams,
      body: PreviewBody,
      response: { 200: PreviewView, ...errors(400, 401, 403, 404, 413, 415, 422) },
    },
  }, async (request) => {
    const { appId, key } = request.params;
    const result = await templates.preview(appId, key, request.body);
    return { key: result.key, version: result.version, rendered: Object.fromEntries(result.rendered.map((r) => [r.channel, renderedView(r)])) };
  });
};

function templateView(t: TemplateVersion) {
  const d = t.definition;
  return {
    appId: t.appId,
    key: t.key,
    version: t.version,
    builtIn: t.builtIn,
    ...(d.description !== undefined ? { description: d.description } : {}),
    variables: d.variables,
    defaultLocale: d.defaultLocale,
    locales: d.locales,
    createdAt: t.createdAt ? t.createdAt.toISOString() : null,
  };
}

/** Fields as a delivery gets them; webhook `data.<key>` fields gathered into `data`. */
function renderedView(r: RenderedChannel): Record<string, unknown> {
  const out: Record<string, unknown> = { locale: r.locale };
  const data: Record<string, string> = {};
  for (const [path, value] of Object.entries(r.fields)) {
    if (path.startsWith('data.')) data[path.slice(5)] = value;
    else out[path] = value;
  }
  if (Object.keys(data).length > 0) out.data = data;
  return out;
}
