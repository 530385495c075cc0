import type { DeliveryJob, Verdict } from '../types.ts';

/**
 * APNs answers → herald verdicts, from Apple's "Handling notification responses from APNs":
 * https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns
 * Apple: do not retry BadDeviceToken, DeviceTokenNotForTopic, Forbidden, ExpiredToken,
 * Unregistered or PayloadTooLarge; 5xx may be retried with back-off. 429 TooManyRequests is
 * per device token, so backing off that one delivery is right.
 */

export interface ErrorBody {
  readonly reason?: string;
  /** 410: when APNs last confirmed the token was no longer valid (ms since the epoch). */
  readonly timestamp?: number;
}

export function parseErrorBody(body: string): ErrorBody {
  if (!body) return {};
  try {
    const parsed = JSON.parse(body) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return {};
    const { reason, timestamp } = parsed as Record<string, unknown>;
    return {
      reason: typeof reason === 'string' ? reason : undefined,
      timestamp: typeof timestamp === 'number' ? timestamp : undefined,
    };
  } catch {
    return {};
  }
}

/** Reasons that mean the app's credentials or bundle id are wrong: fixed by the operator, not by retrying. */
const CREDENTIAL_PROBLEMS: Record<string, string> = {
  BadCertificate: 'APNs rejected the certificate',
  BadCertificateEnvironment: 'the certificate is for the other APNs environment (production vs development)',
  InvalidProviderToken: 'APNs rejected the provider token: check the key id, team id and .p8 key',
  MissingProviderToken: 'APNs wants a provider token or a client certificate: configure token or certificate auth',
  Forbidden: 'APNs refused the credentials (Forbidden)',
  BadEnvironmentKeyInToken: 'the .p8 key is not enabled for this APNs environment',
  UnrelatedKeyIdInToken: 'the key id does not belong to the team id',
  BadTopic: 'the bundle id (apns-topic) is not valid',
  MissingTopic: 'no bundle id (apns-topic) is configured',
  TopicDisallowed: 'APNs does not allow pushes to this bundle id (apns-topic) with these credentials',
};

export function verdictFor(status: number, apnsId: string | undefined, body: ErrorBody, job: DeliveryJob, environment: string): Verdict {
  if (status === 200) return { status: 'sent', providerId: apnsId };
  const reason = body.reason ?? `HTTP ${status}`;
  const error = `APNs ${status} ${reason}`;
  if (status === 410) {
    // The device may have registered again (same token) after APNs saw it go inactive.
    const registeredAt = job.device?.registeredAt?.getTime();
    if (registeredAt !== undefined && body.timestamp !== undefined && registeredAt > body.timestamp) {
      return { status: 'failed', error: `${error}, but the device registered again after APNs saw the token inactive; the device is kept` };
    }
    return { status: 'device-invalid', error };
  }
  if (reason === 'BadDeviceToken' || reason === 'DeviceTokenNotForTopic') {
    // A development build's token sent to production (or the reverse) looks exactly like this.
    const hint = reason === 'BadDeviceToken' ? ` (sent to the ${environment} APNs environment: a token of the other environment is rejected this way; devices carry "environment")` : '';
    return { status: 'device-invalid', error: error + hint };
  }
  if (status === 429 || status >= 500) return { status: 'retry', error };
  const problem = CREDENTIAL_PROBLEMS[reason];
  if (problem) return { status: 'failed', error, appProblem: `${problem} (${reason})` };
  if (reason === 'PayloadTooLarge') return { status: 'failed', error: `${error}: the payload is larger than APNs accepts` };
  return { status: 'failed', error };
}
