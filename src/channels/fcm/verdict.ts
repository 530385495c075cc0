import type { IncomingHttpHeaders } from 'node:http2';
import type { Verdict } from '../types.ts';
import { parseRetryAfter } from '../retry-after.ts';

/**
 * Turns an FCM v1 response into a verdict. FCM answers errors with a google.rpc.Status envelope
 * whose `details` carry an `FcmError` with the errorCode
 * (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode):
 *
 *   {"error": {"code": 404, "status": "NOT_FOUND", "message": "...",
 *              "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}
 *
 * UNREGISTERED and SENDER_ID_MISMATCH mean the token will never work again for this project;
 * INVALID_ARGUMENT is a dead token only when it names the token (a BadRequest field violation on
 * `message.token`, or the message says so) — otherwise our message is malformed, which no retry
 * fixes. QUOTA_EXCEEDED, UNAVAILABLE and INTERNAL are retried, honouring Retry-After as the
 * docs ask ("retry after the time specified in the retry-after header"). THIRD_PARTY_AUTH_ERROR
 * (the APNs certificate or web push key uploaded to Firebase was refused) and 401/403 are the
 * app's configuration, not the device's.
 */
export interface FcmErrorEnvelope {
  readonly error?: {
    readonly code?: number;
    readonly status?: string;
    readonly message?: string;
    readonly details?: ReadonlyArray<{
      readonly '@type'?: string;
      readonly errorCode?: string;
      readonly fieldViolations?: ReadonlyArray<{ readonly field?: string; readonly description?: string }>;
    }>;
  };
}

export interface FcmOutcome {
  readonly verdict: Verdict;
  /** The access token was refused: drop it from the cache and try once more with a new one. */
  readonly tokenRejected?: boolean;
}

/** Retry-After: delta-seconds or an HTTP date (RFC 9110 §10.2.3), clamped (../retry-after.ts). */
export function retryAfterMs(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  return parseRetryAfter(value, now);
}

function parseEnvelope(body: string): FcmErrorEnvelope['error'] {
  try {
    return (JSON.parse(body) as FcmErrorEnvelope).error;
  } catch {
    return undefined;
  }
}

export function fcmOutcome(status: number, headers: IncomingHttpHeaders, body: string): FcmOutcome {
  if (status === 200) {
    let name: string | undefined;
    try {
      name = (JSON.parse(body) as { name?: string }).name;
    } catch {
      name = undefined;
    }
    return { verdict: { status: 'sent', providerId: name } };
  }
  const envelope = parseEnvelope(body);
  const details = envelope?.details ?? [];
  const errorCode = details.find((d) => typeof d.errorCode === 'string')?.errorCode ?? envelope?.status;
  const message = envelope?.message ?? (body.slice(0, 200) || `HTTP ${status}`);
  const error = `FCM ${status} ${errorCode ?? ''}: ${message}`.replace('  ', ' ');
  const retryAfter = retryAfterMs(headers['retry-after']);

  switch (errorCode) {
    case 'UNREGISTERED':
    case 'SENDER_ID_MISMATCH':
      return { verdict: { status: 'device-invalid', error } };
    case 'INVALID_ARGUMENT': {
      const tokenField = details.some((d) => d.fieldViolations?.some((v) => v.field === 'message.token'));
      if (tokenField || /registration token/i.test(message)) return { verdict: { status: 'device-invalid', error } };
      return { verdict: { status: 'failed', error } };
    }
    case 'THIRD_PARTY_AUTH_ERROR':
      return {
        verdict: {
          status: 'failed',
          error,
          appProblem: 'FCM refused the APNs certificate/key or web push credentials uploaded to the Firebase project (THIRD_PARTY_AUTH_ERROR)',
        },
      };
    case 'QUOTA_EXCEEDED':
    case 'UNAVAILABLE':
    case 'INTERNAL':
      return { verdict: { status: 'retry', error, retryAfterMs: retryAfter } };
  }
  if (status === 401) {
    return {
      tokenRejected: true,
      verdict: { status: 'retry', error, appProblem: 'FCM refused the access token of the service account (401)' },
    };
  }
  if (status === 403) {
    return {
      verdict: {
        status: 'failed',
        error,
        appProblem: 'the FCM service account may not send for this project (403): grant it the Firebase Cloud Messaging API Admin role',
      },
    };
  }
  if (status === 404) {
    // A 404 without UNREGISTERED is the project, not the token: never invalidate devices for it.
    return { verdict: { status: 'failed', error, appProblem: 'FCM does not know the project of the service account (404): check project_id' } };
  }
  if (status === 429 || status >= 500) return { verdict: { status: 'retry', error, retryAfterMs: retryAfter } };
  return { verdict: { status: 'failed', error } };
}
