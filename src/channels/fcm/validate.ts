import type { AppCredentialStore } from '../../apps/types.ts';
import type { DeviceRow } from '../../core/hooks.ts';
import type { FcmSender } from './sender.ts';

/**
 * `DomainHooks.validateDevice` for push devices: the old NestJS system checked each registration token with a
 * dry-run send; herald does it with FCM's `validate_only: true` when the app sets
 * `fcm.validateTokens`. Only a definite "this token is dead" rejects the registration: an
 * unreachable FCM or a credential problem must not stop users registering. `sender` is the
 * process's one sender (built with HERALD_FCM_URL), so checks share its token cache and connections.
 * Returns the rejection reason, or undefined to accept.
 */
export async function validatePushDevice(
  credentials: AppCredentialStore,
  device: Omit<DeviceRow, 'id'>,
  sender: FcmSender,
): Promise<string | undefined> {
  if (device.platform === 'ios') return undefined;
  // Web devices with a Web Push subscription have an endpoint URL, not an FCM token.
  if (device.platform === 'web' && /^https?:\/\//i.test(device.token)) return undefined;
  const app = await credentials.get(device.appId);
  if (!app?.fcm?.validateTokens) return undefined;
  const verdict = await sender.send(app.fcm, { validate_only: true, message: { token: device.token } });
  return verdict.status === 'device-invalid' ? verdict.error : undefined;
}
