import type { Channel, ChannelDeps } from '../types.ts';
import { WebPushChannel } from './channel.ts';
import { OutboundPolicy } from '../../outbound/index.ts';

export { WebPushChannel, type WebPushChannelDeps, type WebPushOptions } from './channel.ts';
export { encryptPayload, decodeKeys, MAX_PLAINTEXT_BYTES } from './encrypt.ts';
export { VapidSigner, generateVapidKeys, type VapidKeys } from './vapid.ts';
export { ensureDefaultVapidKeys } from './vapid-keys.ts';
export { webPushTopic } from './message.ts';

/** Channel factory: always built; an app without VAPID keys gets a `failed` verdict saying what to set. */
export function createWebPushChannel(deps: ChannelDeps): Channel {
  return new WebPushChannel({
    credentials: deps.credentials,
    log: deps.log.child({ channel: 'webpush' }),
    metrics: deps.metrics,
    outbound: deps.outbound ?? new OutboundPolicy(deps.config.outbound.allow),
  });
}
