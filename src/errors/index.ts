/**
 * The error catalogue: every error the API answers with, its stable code and HTTP status,
 * defined once. docs/errors.md documents the same list (a test keeps them in step).
 */
export const ERRORS = {
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid.' },
  UNAUTHENTICATED: { status: 401, message: 'Credentials are missing or not valid.' },
  PERMISSION_DENIED: { status: 403, message: 'These credentials may not do that.' },
  FORBIDDEN: { status: 403, message: 'This API key does not have the scope this needs.' },
  NOT_FOUND: { status: 404, message: 'No such resource.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed.' },
  CONFLICT: { status: 409, message: 'The resource is not in a state that allows this.' },
  DEVICE_TAKEN: { status: 409, message: 'The device is registered to another user.' },
  IDEMPOTENCY_IN_PROGRESS: { status: 409, message: 'A request with this Idempotency-Key is still being processed.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send JSON (Content-Type: application/json).' },
  INVALID_DUEDATE: { status: 422, message: 'The reminder would fire in the past; its fire time must be in the future.' },
  INVALID_RECURRENCE: { status: 422, message: 'The recurrence rule is not valid.' },
  INVALID_TIMEZONE: { status: 422, message: 'Not an IANA time zone.' },
  INVALID_DEVICE_TOKEN: { status: 422, message: 'The push provider rejected the device token.' },
  UNKNOWN_APP: { status: 422, message: 'No such app; create it with PUT /v1/apps/{appId} first.' },
  INVALID_CREDENTIALS: { status: 422, message: 'The app credentials are not usable (a key or certificate does not parse).' },
  ENDPOINT_NOT_ALLOWED: { status: 422, message: 'The URL points at an address herald does not send to (loopback, private, link-local or internal).' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'This Idempotency-Key was used with a different request.' },
  TEMPLATE_INVALID: { status: 422, message: 'The template does not compile or breaks a template rule.' },
  UNKNOWN_TEMPLATE: { status: 422, message: 'No such template (or template version) in this app.' },
  TEMPLATE_DATA_INVALID: { status: 422, message: 'The template data is missing variables or has values of the wrong type.' },
  TEMPLATE_CHANNEL_MISSING: { status: 422, message: 'The template has no content for a channel the notification uses.' },
  TEMPLATE_RENDER_FAILED: { status: 422, message: 'The template could not be rendered with this data.' },
  USER_LIMIT_REACHED: { status: 422, message: 'The user already has as many of these as herald allows.' },
  UNKNOWN_TOPIC: { status: 422, message: 'No such topic in this app; create it with PUT /v1/topics/{key} first.' },
  UNKNOWN_USERS: { status: 422, message: 'Some of these users do not exist; create them with PUT /v1/users/{userId} first.' },
  UNKNOWN_TYPE: { status: 422, message: 'No such notification type in this app; declare it with PUT /v1/apps/{appId}/notification-types/{key} first.' },
  TYPE_REQUIRED: { status: 422, message: 'This notification type is required; it cannot be switched off.' },
  INVALID_STEPS: { status: 422, message: 'The fallback chain breaks a rule (docs/timing.md § Fallback chains).' },
  UNPROCESSABLE: { status: 422, message: 'The request breaks a rule.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
  NOT_READY: { status: 503, message: 'Not ready.' },
  UNAVAILABLE: { status: 503, message: 'Herald cannot reach its database right now; try again shortly (see Retry-After).' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error the API turns into `{"error": {code, message, details}}` with the catalogue's status. */
export class HeraldError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;
  readonly headers: Record<string, string> | undefined;
  constructor(code: ErrorCode, message?: string, details?: unknown, headers?: Record<string, string>) {
    super(message ?? ERRORS[code].message);
    this.name = 'HeraldError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = details;
    this.headers = headers;
  }
}

/**
 * 404 for any resource: one code (`NOT_FOUND`, the contract's), the resource named in details so a
 * client can tell a missing reminder from a missing route without parsing the message.
 */
export const notFound = (resource: string, id?: string): HeraldError =>
  new HeraldError('NOT_FOUND', `No such ${resource}.`, id === undefined ? { resource } : { resource, id });
export const validation = (message: string, details?: unknown): HeraldError =>
  new HeraldError('VALIDATION_FAILED', message, details);
