import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino blanks before a line is written. Tokens, keys and secrets never reach a log:
 * request credentials, device tokens, app secrets and anything named like a secret.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'password',
  'secret',
  'token',
  'apiKey',
  'privateKey',
  'key',
  '*.password',
  '*.secret',
  '*.token',
  '*.apiKey',
  '*.privateKey',
  '*.passphrase',
  '*.key',
  '*.databaseUrl',
  '*.smtpUrl',
  'device.token',
  'config.*.privateKey',
  'config.*.secret',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'herald' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError },
    },
    destination as pino.DestinationStream | undefined,
  );
}

/** Longest string field, stack frames and nesting an error summary keeps. */
const MAX_TEXT = 1000;
const MAX_FRAMES = 8;
const MAX_DEPTH = 3;

/**
 * The `err` field of a log line: type, message, stack and the error's *plain* own fields (code,
 * errno, severity, detail, ...), then its cause and, for an AggregateError, its errors. Objects
 * hanging off an error are dropped: pino's standard serializer copies every enumerable field, and
 * libraries attach whole internals (pg-pool puts the pg Client — connection parameters, type
 * tables, the backend's secret key — on an idle client's error; gRPC errors carry metadata maps,
 * AWS errors the raw response), several KB per line.
 */
export function serializeError(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) {
    const message = typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string'
      ? (err as { message: string }).message
      : typeof err === 'string' ? err : `non-error thrown: ${typeof err}`;
    return { type: typeof err, message: clip(message) };
  }
  const out: Record<string, unknown> = { type: err.constructor?.name ?? err.name, message: clip(err.message) };
  for (const [key, value] of Object.entries(err)) {
    if (key === 'message' || key === 'stack' || key === 'cause') continue;
    if (typeof value === 'string') out[key] = clip(value);
    else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') out[key] = typeof value === 'bigint' ? String(value) : value;
  }
  if (err.stack) out.stack = err.stack.split('\n').slice(0, MAX_FRAMES + 1).join('\n');
  if (depth < MAX_DEPTH) {
    if (err.cause !== undefined) out.cause = serializeError(err.cause, depth + 1);
    if (err instanceof AggregateError) out.errors = err.errors.slice(0, 5).map((e: unknown) => serializeError(e, depth + 1));
  }
  return out;
}

function clip(text: string): string {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
}

/** Coerce anything thrown into an Error, keeping the original as `cause`. */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  return new Error(typeof err === 'string' ? err : `non-error thrown: ${JSON.stringify(err)}`, { cause: err });
}
