import { Eta } from 'eta';
import type { DeliveryJob } from '../types.ts';
import { REMINDER_HTML, REMINDER_TEXT } from './templates/reminder.ts';

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

// Two engines, because escaping is a per-engine setting: HTML output escapes every `<%= %>`,
// the text part must not turn "&" into "&amp;" (and keeps its blank lines: no autoTrim).
const html = new Eta({ autoEscape: true, cache: false });
const text = new Eta({ autoEscape: false, autoTrim: false, cache: false });
const reminderHtml = html.compile(REMINDER_HTML);
const reminderText = text.compile(REMINDER_TEXT);

export interface ReminderData {
  readonly name?: string | undefined;
  readonly title?: string | undefined;
  readonly message?: string | undefined;
  readonly link?: string | undefined;
}

/** Only web links become links: a `javascript:` URL in an e-mail would be an attack vector. */
function safeLink(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

export function renderReminder(data: ReminderData): { text: string; html: string } {
  const it = { ...data, link: safeLink(data.link) };
  return {
    text: text.render(reminderText, it).replace(/\n{3,}/g, '\n\n'),
    html: html.render(reminderHtml, it),
  };
}

/** The domain part of the sender, for Message-IDs (`"Herald" <no-reply@example.com>`). */
function senderDomain(from: string): string {
  const match = /@([^\s>]+)>?\s*$/.exec(from);
  return match?.[1] ?? 'herald.invalid';
}

/**
 * Builds the e-mail of one delivery. The notification's own `email` parts win: when it gives a
 * text or an HTML body, only the parts it gives are sent (a template body next to a custom one
 * would say something else); with neither, the reminder template renders both.
 *
 * The Message-ID derives from the delivery id, so a delivery re-sent after a crash or a retry
 * carries the same id and receiving systems can drop the duplicate (RFC 5322 §3.6.4).
 */
export function composeEmail(job: DeliveryJob, from: string, to: string): OutgoingEmail {
  const content = job.content;
  const own = content.email;
  const subject = own?.subject ?? content.title ?? 'Reminder';
  let textBody: string | undefined;
  let htmlBody: string | undefined;
  if (own?.text !== undefined || own?.html !== undefined) {
    textBody = own.text;
    htmlBody = own.html;
  } else {
    const rendered = renderReminder({ name: job.user?.name, title: content.title, message: content.body, link: content.url });
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
  return { from, to, subject, text: textBody, html: htmlBody, messageId: `<${job.id}@${senderDomain(from)}>`, headers };
}
