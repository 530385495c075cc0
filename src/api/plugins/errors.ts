import type { FastifyError, FastifyInstance } from 'fastify';
import { HeraldError, ERRORS, type ErrorCode } from '../../errors/index.ts';
import { coerceError } from '../../log/index.ts';

interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function errorBody(code: ErrorCode, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Map Fastify's own errors (body parsing, validation, limits) onto the catalogue. */
/**
 * A body that is not JSON (or empty where JSON is expected): 400 VALIDATION_FAILED naming
 * `body`, the code the contract gives both malformed JSON and schema violations.
 */
function malformedBody(message: string): HeraldError {
  return new HeraldError('VALIDATION_FAILED', `body: ${message}`, [{ field: 'body', message }]);
}

function fromFastify(err: FastifyError): HeraldError | undefined {
  if (err.validation) {
    const details = err.validation.map((v) => {
      const missing = (v.params as { missingProperty?: string } | undefined)?.missingProperty;
      const extra = (v.params as { additionalProperty?: string } | undefined)?.additionalProperty;
      const base = `${err.validationContext ?? 'body'}${v.instancePath.replace(/\//g, '.')}`;
      const field = missing ? `${base}.${missing}` : extra ? `${base}.${extra}` : base;
      const message = extra ? `unknown field "${extra}"` : (v.message ?? 'is not valid');
      return { field, message };
    });
    const first = details[0];
    return new HeraldError('VALIDATION_FAILED', first ? `${first.field}: ${first.message}` : 'The request is not valid.', details);
  }
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return malformedBody(err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'is empty; JSON was expected' : 'is not valid JSON');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HeraldError('PAYLOAD_TOO_LARGE');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HeraldError('UNSUPPORTED_MEDIA_TYPE');
    default:
      break;
  }
  if (err instanceof SyntaxError || (err as { type?: string }).type === 'entity.parse.failed') {
    return malformedBody('is not valid JSON');
  }
  const status = err.statusCode ?? 500;
  if (status === 413) return new HeraldError('PAYLOAD_TOO_LARGE');
  if (status === 415) return new HeraldError('UNSUPPORTED_MEDIA_TYPE');
  if (status === 404) return new HeraldError('NOT_FOUND', undefined, { resource: 'route' });
  if (status === 405) return new HeraldError('METHOD_NOT_ALLOWED');
  if (status >= 400 && status < 500) return new HeraldError('VALIDATION_FAILED', err.message);
  return undefined;
}

/** PostgreSQL errors caused by the input (too long for an index, bad text) are the caller's. */
function fromPostgres(err: { code?: unknown; message?: string }): HeraldError | undefined {
  if (typeof err.code !== 'string' || !/^[0-9A-Z]{5}$/.test(err.code)) return undefined;
  if (err.code === '22P02' || err.code === '22007' || err.code === '22008' || err.code === '22003') {
    return new HeraldError('VALIDATION_FAILED', 'A value is out of range or malformed.');
  }
  if (err.code === '22021' || err.code === '54000') return new HeraldError('VALIDATION_FAILED', 'A value is not acceptable text or is too long.');
  if (err.code === '23505') return new HeraldError('CONFLICT', 'That resource already exists.');
  return undefined;
}

/** Seconds a client is asked to wait when the database is out of reach. */
const OUTAGE_RETRY_AFTER_S = 5;
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/**
 * The database out of reach (refused, reset, timed out, shutting down, out of connections) is
 * not the caller's fault nor a bug: 503 with Retry-After, so clients back off and retry.
 * SQLSTATE class 08 is "connection exception"; 57P01-57P03 an administrator or crash shutdown;
 * (https://www.postgresql.org/docs/current/errcodes-appendix.html).
 */
function fromOutage(err: { code?: unknown; message?: string; errors?: unknown; severity?: unknown }): HeraldError | undefined {
  const code = typeof err.code === 'string' ? err.code : '';
  const nested = Array.isArray(err.errors) && err.errors.some((e) => CONNECTION_ERRNOS.has((e as { code?: string }).code ?? ''));
  const message = err.message ?? '';
  const outage =
    CONNECTION_ERRNOS.has(code) ||
    nested ||
    /^08/.test(code) ||
    ['57P01', '57P02', '57P03', '53300', '3D000'].includes(code) ||
    // FATAL ends the session: the server refused or dropped the connection (a database not
    // accepting connections, authentication, shutdown), whatever the SQLSTATE.
    err.severity === 'FATAL' ||
    err.severity === 'PANIC' ||
    /^(Connection terminated|timeout exceeded when trying to connect)/.test(message);
  return outage ? new HeraldError('UNAVAILABLE', undefined, undefined, { 'retry-after': String(OUTAGE_RETRY_AFTER_S) }) : undefined;
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((raw, request, reply) => {
    const err = raw as FastifyError;
    const herald = err instanceof HeraldError ? err : (fromFastify(err) ?? fromPostgres(err) ?? fromOutage(err));
    if (herald) {
      if (herald.headers) void reply.headers(herald.headers);
      if (herald.code === 'UNAVAILABLE') request.log.warn({ err: coerceError(err) }, 'database out of reach');
      else if (herald.status >= 500) request.log.error({ err }, 'request failed');
      return reply.status(herald.status).send(errorBody(herald.code, herald.message, herald.details));
    }
    request.log.error({ err: coerceError(err) }, 'unhandled error');
    return reply.status(500).send(errorBody('INTERNAL', ERRORS.INTERNAL.message));
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    // The path is a route with other methods: 405 with the methods it has (RFC 9110, 15.5.6).
    // Not for OPTIONS: a preflight the CORS rules did not answer stays a plain 404.
    const asked = METHODS.find((m) => m === request.method);
    const allowed = asked ? METHODS.filter((method) => method !== asked && app.findRoute({ method, url: path }) !== null) : [];
    if (allowed.length > 0) {
      void reply.status(405).header('allow', allowed.join(', ')).send(errorBody('METHOD_NOT_ALLOWED', `${request.method} is not a method of ${path}; it takes ${allowed.join(', ')}.`, { allow: allowed }));
      return;
    }
    void reply.status(404).send(errorBody('NOT_FOUND', `No route ${request.method} ${path}.`, { resource: 'route' }));
  });
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
