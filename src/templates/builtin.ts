import type { LocaleContent, TemplateDefinition, VariableSpec } from './types.ts';
import { CompiledTemplate, type Recipient } from './render.ts';

/**
 * Templates defined in herald's code, as version 0 of their key in every app. An app overrides
 * one by PUT-ing the same key (its versions start at 1); deleting the app's template brings the
 * built-in back. Kept in code rather than seeded by a migration so that an upgrade of herald can
 * improve or translate them without touching stored rows, and so they exist for apps created
 * later (and the environment-configured `default` app, which has no row of its own).
 *
 * `herald.reminder` is the e-mail of a notification that brings no e-mail content of its own
 * (reminders first of all, the old NestJS system's SES template): a greeting with the user's name, the title,
 * the message and a link. ICU has no "if present", so presence travels as booleans.
 */
export const REMINDER_TEMPLATE = 'herald.reminder';

const str = (description: string): VariableSpec => ({ type: 'string', description });
const flag = (description: string): VariableSpec => ({ type: 'boolean', description });

/** The data herald passes to `herald.reminder`; an app's override may use any of these and no others. */
export const REMINDER_VARIABLES: Readonly<Record<string, VariableSpec>> = {
  name: str('the user’s name'),
  title: str('the notification’s title'),
  message: str('the notification’s body (the reminder’s message)'),
  link: str('the notification’s url, when it is an http(s) URL'),
  hasName: flag('name is not empty'),
  hasTitle: flag('title is not empty'),
  hasMessage: flag('message is not empty'),
  hasLink: flag('link is not empty'),
};

interface Words {
  readonly reminder: string;
  readonly hi: string;
  readonly hiName: string;
  readonly open: string;
  readonly footer: string;
}

function reminderEmail(w: Words): LocaleContent {
  const greeting = `{hasName, select, true {${w.hiName}} other {${w.hi}}}`;
  const subject = `{hasTitle, select, true {{title}} other {${w.reminder}}}`;
  // HTML attributes use double quotes: in ICU a single quote before `{` starts quoted text.
  const html = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>${subject}</title></head>
<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; color: #1a1a1a; line-height: 1.5">
<p>${greeting}</p>
{hasTitle, select, true {<h2 style="margin: 0 0 8px">{title}</h2>
} other {}}{hasMessage, select, true {<p style="white-space: pre-line">{message}</p>
} other {}}{hasLink, select, true {<p><a href="{link}" style="color: #0b57d0">${w.open}</a></p>
} other {}}<p style="color: #666; font-size: 12px">${w.footer}</p>
</body>
</html>
`;
  const text = `${greeting}

{hasTitle, select, true {{title}

} other {}}{hasMessage, select, true {{message}

} other {}}{hasLink, select, true {${w.open}: {link}

} other {}}-- 
${w.footer}
`;
  return { email: { subject, html, text } };
}

const REMINDER: TemplateDefinition = {
  description: 'The e-mail of a notification without e-mail content of its own (reminders).',
  variables: REMINDER_VARIABLES,
  defaultLocale: 'en',
  locales: {
    en: reminderEmail({ reminder: 'Reminder', hi: 'Hi,', hiName: 'Hi {name},', open: 'Open', footer: 'Sent by herald. You receive this because you asked to be reminded.' }),
    de: reminderEmail({ reminder: 'Erinnerung', hi: 'Hallo,', hiName: 'Hallo {name},', open: 'Öffnen', footer: 'Von herald gesendet. Sie erhalten diese Nachricht, weil Sie um eine Erinnerung gebeten haben.' }),
    fr: reminderEmail({ reminder: 'Rappel', hi: 'Bonjour,', hiName: 'Bonjour {name},', open: 'Ouvrir', footer: 'Envoyé par herald. Vous recevez ce message car vous avez demandé un rappel.' }),
  },
};

export const BUILT_IN: ReadonlyMap<string, TemplateDefinition> = new Map([[REMINDER_TEMPLATE, REMINDER]]);

const compiled = new Map<string, CompiledTemplate>();

/** Version 0 of a built-in key, compiled once per process. */
export function builtInTemplate(key: string): CompiledTemplate | undefined {
  let hit = compiled.get(key);
  if (!hit) {
    const definition = BUILT_IN.get(key);
    if (!definition) return undefined;
    hit = new CompiledTemplate(key, 0, definition);
    compiled.set(key, hit);
  }
  return hit;
}

/** Only web links become links: a `javascript:` URL in an e-mail would be an attack vector. */
function safeLink(url: string | undefined): string {
  if (!url) return '';
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : '';
  } catch {
    return '';
  }
}

/** `herald.reminder`'s data from a notification's own fields and its recipient's name. */
export function reminderData(input: { name?: string | undefined; title?: string | undefined; body?: string | undefined; url?: string | undefined }): Record<string, unknown> {
  const name = input.name ?? '';
  const title = input.title ?? '';
  const message = input.body ?? '';
  const link = safeLink(input.url);
  return { name, title, message, link, hasName: name !== '', hasTitle: title !== '', hasMessage: message !== '', hasLink: link !== '' };
}

/** The built-in reminder e-mail for a recipient (the e-mail channel's own fallback). */
export function renderBuiltInReminder(recipient: Recipient, input: Parameters<typeof reminderData>[0]): { subject: string; html: string; text: string } {
  const fields = builtInTemplate(REMINDER_TEMPLATE)!.render('email', recipient, reminderData(input))!.fields;
  return { subject: fields.subject ?? '', html: fields.html ?? '', text: fields.text ?? '' };
}
