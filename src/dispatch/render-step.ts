import type { Channel, DeliveryJob, NotificationContent, Provider, Verdict } from '../channels/types.ts';
import { fitPushBody } from '../channels/fit.ts';
import { coerceError } from '../log/index.ts';
import { REMINDER_TEMPLATE, reminderData, type CompiledTemplate, type PinnedTemplate, type TemplateChannel } from '../templates/index.ts';

/**
 * The render step of a delivery: a notification stored with `template: {appId, key, version,
 * data}` is rendered here for this delivery's recipient (locale, time zone) and channel, just
 * before the channel sends it; an e-mail without content of its own gets the app's pinned
 * `herald.reminder` (or the built-in one). Anything that creates notification rows with a
 * pinned template — the API, reminders, ingest, and later broadcasts and digests — gets
 * per-recipient rendering from here without further work.
 *
 * Rendering cannot throw out of the worker: a template that fails to render fails its delivery
 * with `TEMPLATE_RENDER_FAILED: <reason>`; a database error while loading the template is retried.
 */

/** Where compiled template versions come from (src/templates/cache.ts). */
export interface TemplateSource {
  get(appId: string, key: string, version: number): Promise<CompiledTemplate | undefined> | CompiledTemplate | undefined;
}

interface StoredTemplates {
  readonly template?: PinnedTemplate;
  readonly emailTemplate?: { readonly appId: string; readonly key: string; readonly version: number };
}

const CHANNEL_OF: Record<Provider, TemplateChannel> = { apns: 'push', fcm: 'push', webpush: 'push', email: 'email', webhook: 'webhook', inbox: 'inbox' };

export type Prepared = { readonly ok: true; readonly job: DeliveryJob } | { readonly ok: false; readonly verdict: Verdict };

const failed = (reason: string): Prepared => ({ ok: false, verdict: { status: 'failed', error: `TEMPLATE_RENDER_FAILED: ${reason}` } });

/** The notification's content with a rendered channel's fields laid over it. */
function apply(content: NotificationContent, channel: TemplateChannel, fields: Readonly<Record<string, string>>, ownSubjectWins: boolean): NotificationContent {
  switch (channel) {
    case 'push':
      return { ...content, ...pick(fields, 'title', 'subtitle', 'body') };
    case 'inbox':
      return { ...content, ...pick(fields, 'title', 'body', 'url') };
    case 'email': {
      const subject = ownSubjectWins ? (content.email?.subject ?? fields.subject) : fields.subject;
      return { ...content, email: { ...(subject !== undefined ? { subject } : {}), ...pick(fields, 'html', 'text') } };
    }
    case 'webhook': {
      const rendered = Object.entries(fields).filter(([path]) => path.startsWith('data.'));
      if (rendered.length === 0) return { ...content, ...pick(fields, 'title', 'body') };
      const data: Record<string, unknown> = { ...content.data };
      for (const [path, value] of rendered) data[path.slice(5)] = value;
      return { ...content, ...pick(fields, 'title', 'body'), data };
    }
  }
}

function pick(fields: Readonly<Record<string, string>>, ...names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) if (fields[name] !== undefined) out[name] = fields[name];
  return out;
}

type Loaded = { readonly template: CompiledTemplate } | { readonly prepared: Prepared };

/** A pinned version; a database error is worth another try, a missing version is not. */
async function load(templates: TemplateSource, appId: string, key: string, version: number): Promise<Loaded> {
  try {
    const template = await templates.get(appId, key, version);
    return template ? { template } : { prepared: failed(`version ${version} of template "${key}" does not exist in app ${appId}`) };
  } catch (err) {
    return { prepared: { ok: false, verdict: { status: 'retry', error: `loading template "${key}" failed: ${coerceError(err).message}` } } };
  }
}

/** Render the job's templates for its recipient; the job unchanged when it has none. */
export async function renderDelivery(job: DeliveryJob, templates: TemplateSource): Promise<Prepared> {
  const stored = job.content as NotificationContent & StoredTemplates;
  const channel = CHANNEL_OF[job.provider];
  const ref = stored.template;
  const needsEmail = channel === 'email' && stored.email?.text === undefined && stored.email?.html === undefined;
  if (!ref && !needsEmail) return { ok: true, job };
  const recipient = { locale: job.user?.locale, timeZone: job.user?.timezone };
  let content: NotificationContent = stored;
  let rendered = false;
  if (ref) {
    const loaded = await load(templates, ref.appId, ref.key, ref.version);
    if ('prepared' in loaded) return loaded.prepared;
    try {
      const out = loaded.template.render(channel, recipient, ref.data);
      if (out) {
        content = apply(content, channel, out.fields, false);
        rendered = true;
      }
    } catch (err) {
      return failed(`${ref.key} v${ref.version} (${channel}): ${coerceError(err).message}`);
    }
  }
  if (channel === 'email' && content.email?.text === undefined && content.email?.html === undefined) {
    const pin = stored.emailTemplate ?? { appId: job.appId, key: REMINDER_TEMPLATE, version: 0 };
    const loaded = await load(templates, pin.appId, pin.key, pin.version);
    if ('prepared' in loaded) return loaded.prepared;
    try {
      const out = loaded.template.render('email', recipient, reminderData({ name: job.user?.name, title: content.title, body: content.body, url: content.url }));
      if (out) content = apply(content, 'email', out.fields, true);
    } catch (err) {
      return failed(`${pin.key} v${pin.version} (email): ${coerceError(err).message}`);
    }
  }
  const out = { ...job, content };
  return { ok: true, job: rendered && channel === 'push' ? fitPushBody(out) : out };
}

/**
 * The channels with the render step in front of each `send`: what the worker roles hand their
 * delivery loops (PostgreSQL claims and broker dispatch alike), so there is one place where
 * rendering happens. Closing still goes to the channels themselves.
 */
export function withTemplates(channels: ReadonlyMap<Provider, Channel>, templates: TemplateSource): Map<Provider, Channel> {
  const out = new Map<Provider, Channel>();
  for (const [provider, channel] of channels) {
    out.set(provider, {
      provider: channel.provider,
      maxAttempts: channel.maxAttempts,
      async send(job: DeliveryJob): Promise<Verdict> {
        const prepared = await renderDelivery(job, templates);
        return prepared.ok ? channel.send(prepared.job) : prepared.verdict;
      },
      close: () => channel.close(),
    });
  }
  return out;
}
