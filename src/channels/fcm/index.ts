import type { Channel, ChannelDeps } from '../types.ts';
import { FcmChannel } from './channel.ts';

export { FcmChannel, type FcmChannelDeps } from './channel.ts';
export { FcmSender, DEFAULT_FCM_URL, type FcmSenderOptions } from './sender.ts';
export { buildFcmMessage } from './message.ts';
export { fcmOutcome } from './verdict.ts';
export { validatePushDevice } from './validate.ts';

/**
 * Channel factory: always built, since apps bring their own service accounts; an app without
 * one gets a `failed` verdict with an appProblem saying what to configure.
 */
export function createFcmChannel(deps: ChannelDeps): Channel {
  return new FcmChannel(
    { credentials: deps.credentials, log: deps.log.child({ channel: 'fcm' }), metrics: deps.metrics },
    { url: deps.config.fcm.url },
  );
}
