import type { Channel, ChannelDeps } from '../types.ts';
import { EmailChannel, type EmailChannelOptions } from './channel.ts';

export { EmailChannel, routeFor, type EmailChannelOptions } from './channel.ts';
export { composeEmail, type OutgoingEmail } from './message.ts';
export { smtpVerdict } from './smtp.ts';
export { sesVerdict } from './ses.ts';

/**
 * The `email` provider: SMTP (nodemailer, pooled) or AWS SES v2, per app. Always built — whether
 * an app can send e-mail is a per-app verdict (appProblem), not a property of the process.
 */
export function createEmailChannel(deps: ChannelDeps, options: EmailChannelOptions = {}): Channel {
  return new EmailChannel(deps, options);
}
