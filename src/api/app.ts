import Fastify, { type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { ApiKeyVerifier } from '../auth/key-verifier.ts';
import { Listener } from '../db/listener.ts';
import { RateLimiter } from '../limits/index.ts';
import { withActorScope, setActor } from '../events/actor.ts';
import { registerAppLimits } from './plugins/app-limits.ts';
import { registerOpsAccess } from './plugins/ops-access.ts';
import { UserTokenVerifier } from '../auth/user-tokens.ts';
import { registerErrorHandling, errorBody } from './plugins/errors.ts';
import { registerAuth, callerKey } from './plugins/auth.ts';
import { registerCors } from './plugins/cors.ts';
import { registerIdempotency } from './plugins/idempotency.ts';
import { registerHttpMetrics } from './plugins/metrics.ts';
import { registerJsonBody } from './plugins/json-body.ts';
import { registerSecurityHeaders } from './plugins/security-headers.ts';
import { clientErrorHandler, serverFactory } from './plugins/http-server.ts';
import { registerRoutes } from './routes/index.ts';
import { queryDefaultsOptional } from './openapi.ts';

export type { ApiDeps, App } from './types.ts';
import type { ApiDeps, App } from './types.ts';

/**
 * Two validators: request bodies are strict (no type coercion, unknown fields rejected), while
 * query strings, path parameters and headers coerce, since they arrive as text.
 */
function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
  });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

/** A hop count n trusts the n proxies nearest herald (what proxy-addr makes of a number). */
function trustProxy(setting: false | number | readonly string[]): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (setting === false) return false;
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return [...setting];
}

/** Build the HTTP app without listening (tests drive it with inject()). */
export async function buildApp(deps: ApiDeps, options: FastifyServerOptions = {}): Promise<App> {
  const { ctx } = deps;
  const app = Fastify({
    loggerInstance: ctx.log.child({ role: 'api' }),
    bodyLimit: ctx.config.maxBodyBytes,
    // Only configured proxies may say who the client is (X-Forwarded-For); by default none may.
    trustProxy: trustProxy(ctx.config.trustProxy),
    serverFactory: serverFactory(ctx.config.http),
    clientErrorHandler,
    return503OnClosing: true,
    // A user id is up to 200 characters (src/users/id.ts), each up to 12 once percent-encoded (a
    // 4-byte UTF-8 character); the router's default of 100 made users that a token, a
    // notification or a subscription had created with a longer id unreachable by their path.
    routerOptions: { maxParamLength: 2400 },
    // URLs the router rejects (bad encoding, an over-long path parameter) get the error envelope too.
    frameworkErrors: (error, _request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      void (reply as unknown as { status(n: number): { send(b: unknown): unknown } })
        .status(400)
        .send(errorBody('VALIDATION_FAILED', tooLong ? 'A path parameter is too long.' : 'The URL is not valid.', [{ field: 'params', message: error.message.slice(0, 200) }]));
    },
    ...options,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const bodyAjv = makeAjv(false);
  const textAjv = makeAjv(true);
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : textAjv).compile(schema),
  );

  registerErrorHandling(app);
  registerOpsAccess(app, { serveHere: ctx.config.ops.port === undefined, token: ctx.config.ops.token });
  registerJsonBody(app, ctx.config.http.maxJsonDepth);
  registerSecurityHeaders(app);
  await registerCors(app, ctx.config.corsOrigins);
  // Every request runs in its own actor scope: the events it writes record who acted.
  app.addHook('onRequest', (_request, _reply, done) => withActorScope(done));
  const apiKeys = new ApiKeyVerifier(ctx.pool);
  // Key changes (a revocation) reach every API process at once through NOTIFY.
  const listener = new Listener(ctx.pool, ctx.log);
  await apiKeys.follow(listener);
  // This process forgets a key it revoked itself before answering (others hear the NOTIFY).
  app.decorate('keyRevoked', (id: string) => apiKeys.forget(id));
  app.addHook('onClose', async () => listener.close());
  const { windowSeconds, perKey, perUser, authFailures } = ctx.config.rateLimit;
  registerAuth(app, {
    apiKeys,
    userTokens: new UserTokenVerifier({ secret: ctx.config.userJwtSecret, jwksUrl: ctx.config.userJwksUrl, ...ctx.config.userJwt }),
    trustGatewayHeaders: ctx.config.trustGatewayHeaders,
    limiter: new RateLimiter(ctx.pool, ctx.log),
    limits: {
      perKey: { limit: perKey, windowSeconds },
      perUser: { limit: perUser, windowSeconds },
      authFailures: { limit: authFailures, windowSeconds },
    },
  });
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.caller) setActor(callerKey(request.caller));
    done();
  });
  registerAppLimits(app, ctx.pool);
  registerIdempotency(app, ctx.pool);
  registerHttpMetrics(app, ctx.metrics);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Herald',
        version: '1',
        description: 'Self-hosted notification delivery. See docs/api.md for the contract.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'API key (hk_...) or an end user JWT' },
        },
      },
      security: [{ bearer: [] }],
    },
    transformObject: (doc) => ('openapiObject' in doc ? queryDefaultsOptional(doc.openapiObject) : doc.swaggerObject),
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' }, staticCSP: true });
  app.get('/openapi.json', { config: { auth: 'public' }, schema: { hide: true } }, async () => app.swagger());

  await registerRoutes(app, deps);
  return app;
}
