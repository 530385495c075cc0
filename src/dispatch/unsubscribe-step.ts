import type { Channel, DeliveryJob, Provider } from '../channels/types.ts';
import type { UnsubscribeLinks } from '../preferences/unsubscribe.ts';

/** What a notification stores about its type (src/notifications/service.ts). */
interface TypedContent {
  readonly type?: string;
  readonly typeRequired?: boolean;
}

/**
 * The unsubscribe step of an e-mail delivery: an e-mail of a non-required notification type gets
 * a signed one-click unsubscribe link naming the delivery (RFC 8058), which the e-mail channel
 * puts in `List-Unsubscribe` / `List-Unsubscribe-Post`; the delivery says who and which type,
 * and a re-sent delivery's link is still one link. Without HERALD_PUBLIC_URL there is
 * no URL to give and e-mails go out as before.
 */
export function unsubscribeUrlFor(job: DeliveryJob, links: UnsubscribeLinks): string | undefined {
  const content = job.content as DeliveryJob['content'] & TypedContent;
  if (job.provider !== 'email' || !links.enabled || !content.type || content.typeRequired || !job.user) return undefined;
  return links.url(job.id);
}

export function withUnsubscribeLinks(channels: ReadonlyMap<Provider, Channel>, links: UnsubscribeLinks): Map<Provider, Channel> {
  const out = new Map(channels);
  const email = channels.get('email');
  if (email && links.enabled) {
    out.set('email', {
      provider: email.provider,
      maxAttempts: email.maxAttempts,
      send: (job) => {
        const unsubscribeUrl = unsubscribeUrlFor(job, links);
        return email.send(unsubscribeUrl ? { ...job, unsubscribeUrl } : job);
      },
      close: () => email.close(),
    });
  }
  return out;
}
