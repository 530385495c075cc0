import type { Queryable } from '../db/pool.ts';
import { HeraldError } from '../errors/index.ts';
import type { PinnedTemplate, TemplateRef, VariableSpec } from './types.ts';
import { checkData, summariseProblems } from './data.ts';
import { findForSend, latestVersion } from './repository.ts';
import { BUILT_IN, REMINDER_TEMPLATE } from './builtin.ts';

/**
 * Sending with a template, at creation time: the named version (else the latest) is pinned and
 * the data checked against its variables, so a bad send is refused before anything is stored and
 * an edited template never changes what a queued notification will say.
 */

/** The parts of a notification (or a reminder's occurrence) that decide which templates it uses. */
export interface SendFields {
  readonly appId?: string | undefined;
  readonly channels?: readonly string[] | undefined;
  readonly template?: TemplateRef | undefined;
  readonly title?: string | undefined;
  readonly body?: string | undefined;
  readonly email?: { readonly text?: string | undefined; readonly html?: string | undefined } | undefined;
}

export interface PinnedSend {
  /** The template and checked data the notification stores. */
  readonly template?: PinnedTemplate;
  /**
   * The app's own `herald.reminder` version that renders this notification's e-mail (absent: the
   * built-in one), pinned like any template.
   */
  readonly emailTemplate?: { readonly appId: string; readonly key: string; readonly version: number };
}

type Found = { version: number; variables: Readonly<Record<string, VariableSpec>>; channels: readonly string[] };

/** Lookups already made in this transaction (a batch of sends with one template asks once). */
export type PinMemo = Map<string, Promise<Found | undefined>>;

function find(db: Queryable, appId: string, ref: TemplateRef, memo: PinMemo | undefined): Promise<Found | undefined> {
  const id = `${appId}\u0000${ref.key}\u0000${ref.version ?? ''}`;
  const hit = memo?.get(id);
  if (hit) return hit;
  const found = (async (): Promise<Found | undefined> => {
    const builtIn = BUILT_IN.get(ref.key);
    if (builtIn) {
      const version = ref.version ?? (await latestVersion(db, appId, ref.key));
      if (version === 0) return { version: 0, variables: builtIn.variables, channels: Object.keys(builtIn.locales[builtIn.defaultLocale] ?? {}) };
      return findForSend(db, appId, ref.key, version);
    }
    return findForSend(db, appId, ref.key, ref.version);
  })();
  memo?.set(id, found);
  return found;
}

/** Pin the send's templates, or throw the 422 that says what is wrong (nothing is stored then). */
export async function pinTemplates(db: Queryable, send: SendFields, defaultChannels: readonly string[], memo?: PinMemo): Promise<PinnedSend> {
  const appId = send.appId ?? 'default';
  const channels = send.channels ?? defaultChannels;
  const ref = send.template;
  let template: PinnedTemplate | undefined;
  let covers: readonly string[] = [];
  if (ref) {
    const found = await find(db, appId, ref, memo);
    if (!found) {
      const which = ref.version !== undefined ? `version ${ref.version} of template "${ref.key}"` : `template "${ref.key}"`;
      throw new HeraldError('UNKNOWN_TEMPLATE', `app "${appId}" has no ${which}`, [{ field: ref.version !== undefined ? 'body.template.version' : 'body.template.key', message: 'no such template' }]);
    }
    const { data, problems } = checkData(found.variables, ref.data);
    if (problems.length > 0) throw new HeraldError('TEMPLATE_DATA_INVALID', summariseProblems(problems), problems);
    covers = found.channels;
    // Push and inbox without template content fall back to the notification's own title/body;
    // with neither there would be nothing to show.
    const bare = channels.filter((c) => (c === 'push' || c === 'inbox') && !covers.includes(c) && send.title === undefined && send.body === undefined);
    if (bare.length > 0) {
      throw new HeraldError('TEMPLATE_CHANNEL_MISSING', `template "${ref.key}" (version ${found.version}) has no content for ${bare.join(' and ')}, and the notification has no title or body of its own`, bare.map((c) => ({ field: 'body.channels', message: `${c}: the template has no ${c} content` })));
    }
    template = { appId, key: ref.key, version: found.version, data };
  }
  let emailTemplate: PinnedSend['emailTemplate'];
  const ownEmail = send.email?.text !== undefined || send.email?.html !== undefined;
  if (channels.includes('email') && !ownEmail && !covers.includes('email')) {
    const version = (await find(db, appId, { key: REMINDER_TEMPLATE }, memo))?.version ?? 0;
    if (version > 0) emailTemplate = { appId, key: REMINDER_TEMPLATE, version };
  }
  return { ...(template ? { template } : {}), ...(emailTemplate ? { emailTemplate } : {}) };
}
