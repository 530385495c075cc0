import type { DeliveryJob } from '../types.ts';
import { renderBuiltInReminder } from '../../templates/builtin.ts';

/** One e-mail as both transports (SMTP, SES) send it. */
export interface OutgoingEmail {
  readonly from: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string | undefined;
  readonly html: string | undefined;
  /** RFC 5322 Message-ID, angle brackets included. */
  readonly messageId: string;
  /** Extra header fields (X-Herald-*, Auto-Submitted). */
  readonly headers: Readonly<Record<string, string>>;
}

/** The domain part of the sender, for Message-IDs (`"Herald" <no-reply@example.com>`). */
function senderDomain(from: string): string {
  const match = /@([^\s>]+)>?\s*$/.exec(from);
  return match?.[1] ?? 'herald.invalid';
}

/**
 * Builds the e-mail of one delivery. The notification's own `email` parts win: when it gives a
 * text or an HTML body, only the parts it gives are sent (a template body next to a custom one
 * would say something else). The delivery step renders stored templates into `email` before the
 * channel sees the job (src/dispatch/render-step.ts); a job that arrives without any e-mail body
 * still gets the built-in `herald.reminder` template in its recipient's language.
 *
 * The Message-ID derives from the delivery id, so a delivery re-sent after a crash or a retry
 * carries the same id and receiving systems can drop the duplicate (RFC 5322 §3.6.4).
 */
export function composeEmail(job: DeliveryJob, from: string, to: string): OutgoingEmail {
  const content = job.content;
  const own = content.email;
  let subject = own?.subject ?? content.title ?? 'Reminder';
  let textBody: string | undefined;
  let htmlBody: string | undefined;
  if (own?.text !== undefined || own?.html !== undefined) {
    textBody = own.text;
    htmlBody = own.html;
  } else {
    const recipient = { locale: job.user?.locale, timeZone: job.user?.timezone };
    const rendered = renderBuiltInReminder(recipient, { name: job.user?.name, title: content.title, body: content.body, url: content.url });
    subject = own?.subject ?? rendered.subject;
    textBody = rendered.text;
    htmlBody = rendered.html;
  }
  const headers: Record<string, string> = {
    'X-Herald-Delivery-Id': job.id,
    'X-Herald-Notification-Id': job.notificationId,
    // RFC 3834: marks the message as machine-generated so auto-responders stay quiet.
    'Auto-Submitted': 'auto-generated',
  };
  if (job.reminderId) headers['X-Herald-Reminder-Id'] = job.reminderId;
  if (job.unsubscribeUrl) {
    // RFC 8058 one-click unsubscribe, which large mailbox providers require of bulk senders: the
    // provider POSTs "List-Unsubscribe=One-Click" to the HTTPS URI without the user leaving the inbox.
    headers['List-Unsubscribe'] = `<${job.unsubscribeUrl}>`;
    headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
  }
  return { from, to, subject, text: textBody, html: htmlBody, messageId: `<${job.id}@${senderDomain(from)}>`, headers };
}
