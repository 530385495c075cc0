import type { Channel, ChannelDeps, Provider } from './types.ts';
import { createWebhookChannel } from './webhook/index.ts';
import { createFcmChannel } from './fcm/index.ts';
import { createWebPushChannel } from './webpush/index.ts';
import { createEmailChannel } from './email/index.ts';
import { createApnsChannel } from './apns/index.ts';

export type { Channel, ChannelDeps, DeliveryJob, Verdict, Provider, ChannelName, NotificationContent } from './types.ts';

/**
 * Every channel adapter herald has, by provider. A factory may return undefined when the
 * channel cannot work at all in this process; per-app configuration problems are verdicts.
 * Each adapter registers itself here with one line.
 */
export const CHANNEL_FACTORIES: Partial<Record<Provider, (deps: ChannelDeps) => Channel | undefined>> = {
  webhook: createWebhookChannel,};
CHANNEL_FACTORIES.fcm = createFcmChannel;
CHANNEL_FACTORIES.webpush = createWebPushChannel;
CHANNEL_FACTORIES.email = (deps) => createEmailChannel(deps);
CHANNEL_FACTORIES.apns = (deps) => createApnsChannel(deps);

export function createChannels(deps: ChannelDeps, only?: readonly string[]): Map<Provider, Channel> {
  const channels = new Map<Provider, Channel>();
  for (const [provider, factory] of Object.entries(CHANNEL_FACTORIES) as Array<[Provider, (d: ChannelDeps) => Channel | undefined]>) {
    if (only && only.length > 0 && !only.includes(provider)) continue;
    const channel = factory(deps);
    if (channel) channels.set(provider, channel);
  }
  return channels;
}
