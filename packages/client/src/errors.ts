/** The body of every herald error (docs/errors.md). */
export interface HeraldErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/**
 * A herald API error: the HTTP status and herald's stable `code`, `message` and `details`
 * (`details` is e.g. `[{field, message}]` for VALIDATION_FAILED). A response that is not
 * herald's JSON (a proxy's 502 page) still becomes one, with code `HTTP_<status>`.
 */
export class HeraldApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  /** Seconds the server asked to wait (`Retry-After`), when it said. */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, body: HeraldErrorBody['error'], retryAfterSeconds?: number) {
    super(body.message);
    this.name = 'HeraldApiError';
    this.status = status;
    this.code = body.code;
    this.details = body.details;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** Build from a response whose body was already read (or from its text). */
  static from(response: Response, body: unknown): HeraldApiError {
    const retryAfter = retryAfterMs(response.headers.get('retry-after'));
    const seconds = retryAfter === undefined ? undefined : Math.ceil(retryAfter / 1000);
    if (isErrorBody(body)) return new HeraldApiError(response.status, body.error, seconds);
    const text = typeof body === 'string' && body.length > 0 ? body.slice(0, 200) : response.statusText || 'request failed';
    return new HeraldApiError(response.status, { code: `HTTP_${response.status}`, message: text }, seconds);
  }

  /** Read the response's body and build the error. */
  static async fromResponse(response: Response): Promise<HeraldApiError> {
    const text = await response.text().catch(() => '');
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return HeraldApiError.from(response, body);
  }
}

function isErrorBody(body: unknown): body is HeraldErrorBody {
  const error = (body as { error?: unknown } | null)?.error as { code?: unknown; message?: unknown } | undefined;
  return typeof error?.code === 'string' && typeof error.message === 'string';
}

/**
 * `Retry-After` as milliseconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3);
 * undefined when absent or unreadable.
 */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
