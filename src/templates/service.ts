import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { HeraldError, notFound } from '../errors/index.ts';
import { appendEvent } from '../events/outbox.ts';
import { findDefaultLocale } from '../apps/repository.ts';
import type { LocaleContent, Problem, TemplateChannel, TemplateDefinition, TemplateVersion, VariableSpec } from './types.ts';
import { TEMPLATE_CHANNELS } from './types.ts';
import { checkDefinition } from './compile.ts';
import { checkData, summariseProblems } from './data.ts';
import { canonicalLocale } from '../core/locale.ts';
import { CompiledTemplate, type RenderedChannel } from './render.ts';
import { BUILT_IN, REMINDER_TEMPLATE, REMINDER_VARIABLES } from './builtin.ts';
import * as repo from './repository.ts';

/** What PUT /v1/apps/{appId}/templates/{key} accepts. */
export interface TemplateInput {
  readonly description?: string | undefined;
  readonly variables?: Readonly<Record<string, VariableSpec>> | undefined;
  readonly defaultLocale?: string | undefined;
  readonly locales: Readonly<Record<string, LocaleContent>>;
}

export interface PreviewInput {
  readonly locale?: string | undefined;
  readonly timezone?: string | undefined;
  readonly channel?: TemplateChannel | undefined;
  readonly version?: number | undefined;
  readonly data?: Readonly<Record<string, unknown>> | undefined;
}

export interface TemplateSummary {
  readonly key: string;
  readonly version: number;
  readonly builtIn: boolean;
  readonly description?: string | undefined;
  readonly defaultLocale: string;
  readonly locales: string[];
  readonly channels: TemplateChannel[];
  readonly updatedAt: Date | null;
}

const invalid = (problems: Problem[]) => new HeraldError('TEMPLATE_INVALID', summariseProblems(problems), problems);

/** Canonical locale keys and default locale; problems for tags that are not tags. */
function normalise(input: TemplateInput, appLocale: string): { definition: TemplateDefinition; problems: Problem[] } {
  const problems: Problem[] = [];
  const locales: Record<string, LocaleContent> = {};
  for (const [tag, content] of Object.entries(input.locales)) {
    const canonical = canonicalLocale(tag);
    if (!canonical) problems.push({ field: `body.locales.${tag}`, message: 'is not a BCP 47 language tag' });
    else if (locales[canonical]) problems.push({ field: `body.locales.${tag}`, message: `is the same locale as another key (${canonical})` });
    else locales[canonical] = content;
  }
  let defaultLocale = canonicalLocale(input.defaultLocale ?? appLocale);
  if (!defaultLocale) {
    problems.push({ field: 'body.defaultLocale', message: 'is not a BCP 47 language tag' });
    defaultLocale = appLocale;
  }
  const definition: TemplateDefinition = {
    ...(input.description !== undefined ? { description: input.description } : {}),
    variables: input.variables ?? {},
    defaultLocale,
    locales,
  };
  return { definition, problems };
}

/** Rules for keys herald itself renders: `herald.*` is reserved; an override gets herald's data. */
function reservedKeyProblems(key: string, def: TemplateDefinition): Problem[] {
  if (!key.startsWith('herald.')) return [];
  if (key !== REMINDER_TEMPLATE) return [{ field: 'params.key', message: 'keys starting with "herald." are reserved for built-in templates' }];
  const problems: Problem[] = [];
  for (const [name, spec] of Object.entries(def.variables)) {
    const given = REMINDER_VARIABLES[name];
    if (!given) problems.push({ field: `body.variables.${name}`, message: `herald renders ${key} with ${Object.keys(REMINDER_VARIABLES).join(', ')}; it cannot supply ${name}` });
    else if (given.type !== spec.type) problems.push({ field: `body.variables.${name}.type`, message: `herald supplies ${name} as a ${given.type}` });
  }
  if (!def.locales[def.defaultLocale]?.email) problems.push({ field: `body.locales.${def.defaultLocale}.email`, message: `${key} renders e-mail: its default locale needs email content` });
  return problems;
}

/** Templates per app: versioned definitions, their checks, events and previews. */
export class TemplateService {
  readonly #pool: Pool;
  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async #appLocale(appId: string): Promise<string> {
    const locale = await findDefaultLocale(this.#pool, appId);
    if (locale === undefined) throw notFound('app', appId);
    return locale;
  }

  /** Save a new version (or nothing, when the definition equals the latest). */
  async put(appId: string, key: string, input: TemplateInput): Promise<TemplateVersion> {
    const { definition, problems } = normalise(input, await this.#appLocale(appId));
    problems.push(...reservedKeyProblems(key, definition), ...checkDefinition(definition));
    if (problems.length > 0) throw invalid(problems);
    return withTransaction(this.#pool, async (client) => {
      const saved = await repo.saveVersion(client, appId, key, definition);
      if (saved.changed) {
        await appendEvent(client, {
          userId: null,
          type: saved.created ? 'template:created' : 'template:updated',
          itemType: 'template',
          itemId: `${appId}/${key}`,
          data: { appId, key, version: saved.version },
        });
      }
      return { appId, key, version: saved.version, definition, createdAt: saved.at, builtIn: false };
    });
  }

  /** The latest version: the app's own, else the built-in one. */
  async get(appId: string, key: string): Promise<TemplateVersion> {
    await this.#appLocale(appId);
    const row = await repo.findLatest(this.#pool, appId, key);
    if (row) return { appId, key, version: row.latestVersion, definition: row.definition, createdAt: row.updatedAt, builtIn: false };
    const builtIn = BUILT_IN.get(key);
    if (builtIn) return { appId, key, version: 0, definition: builtIn, createdAt: null, builtIn: true };
    throw notFound('template', key);
  }

  async version(appId: string, key: string, version: number): Promise<TemplateVersion> {
    await this.#appLocale(appId);
    const builtIn = BUILT_IN.get(key);
    if (version === 0 && builtIn) return { appId, key, version: 0, definition: builtIn, createdAt: null, builtIn: true };
    const row = await repo.findVersion(this.#pool, appId, key, version);
    if (!row) throw notFound('template version', `${key}@${version}`);
    return { appId, key, version, definition: row.definition, createdAt: row.createdAt, builtIn: false };
  }

  async versions(appId: string, key: string): Promise<Array<{ version: number; createdAt: Date | null; builtIn: boolean }>> {
    await this.#appLocale(appId);
    const rows = await repo.listVersions(this.#pool, appId, key);
    const out: Array<{ version: number; createdAt: Date | null; builtIn: boolean }> = rows.map((r) => ({ ...r, builtIn: false }));
    if (BUILT_IN.has(key)) out.push({ version: 0, createdAt: null, builtIn: true });
    if (out.length === 0) throw notFound('template', key);
    return out;
  }

  async list(appId: string): Promise<TemplateSummary[]> {
    await this.#appLocale(appId);
    const rows = await repo.listLatest(this.#pool, appId);
    const items = rows.map((r) => summarise(r.key, r.latestVersion, r.definition, false, r.updatedAt));
    for (const [key, definition] of BUILT_IN) {
      if (!rows.some((r) => r.key === key)) items.push(summarise(key, 0, definition, true, null));
    }
    return items.sort((a, b) => a.key.localeCompare(b.key));
  }

  /** Delete the app's template; its versions stay for what was queued (docs/templates.md). */
  async delete(appId: string, key: string): Promise<void> {
    await this.#appLocale(appId);
    await withTransaction(this.#pool, async (client) => {
      const version = await repo.markDeleted(client, appId, key);
      if (version === undefined) {
        if (BUILT_IN.has(key)) throw new HeraldError('CONFLICT', `${key} is built in: there is no app version of it to delete`);
        throw notFound('template', key);
      }
      await appendEvent(client, { userId: null, type: 'template:deleted', itemType: 'template', itemId: `${appId}/${key}`, data: { appId, key, version } });
    });
  }

  /** Exactly what a recipient with this locale and zone would get, channel by channel. */
  async preview(appId: string, key: string, input: PreviewInput): Promise<{ key: string; version: number; rendered: RenderedChannel[] }> {
    const found = input.version !== undefined ? await this.version(appId, key, input.version) : await this.get(appId, key);
    const { data, problems } = checkData(found.definition.variables, input.data, 'body.data');
    if (problems.length > 0) throw new HeraldError('TEMPLATE_DATA_INVALID', summariseProblems(problems), problems);
    const template = new CompiledTemplate(key, found.version, found.definition);
    if (input.channel && !template.has(input.channel)) {
      throw new HeraldError('TEMPLATE_CHANNEL_MISSING', `template "${key}" (version ${found.version}) has no ${input.channel} content`, [{ field: 'body.channel', message: `the template has no ${input.channel} content` }]);
    }
    const channels = input.channel ? [input.channel] : TEMPLATE_CHANNELS.filter((c) => template.has(c));
    const rendered: RenderedChannel[] = [];
    for (const channel of channels) {
      try {
        rendered.push(template.render(channel, { locale: input.locale, timeZone: input.timezone }, data)!);
      } catch (err) {
        throw new HeraldError('TEMPLATE_RENDER_FAILED', `${channel}: ${(err as Error).message}`, [{ field: 'body.data', message: (err as Error).message }]);
      }
    }
    return { key, version: found.version, rendered };
  }
}

function summarise(key: string, version: number, d: TemplateDefinition, builtIn: boolean, updatedAt: Date | null): TemplateSummary {
  return {
    key,
    version,
    builtIn,
    ...(d.description !== undefined ? { description: d.description } : {}),
    defaultLocale: d.defaultLocale,
    locales: Object.keys(d.locales).sort(),
    channels: TEMPLATE_CHANNELS.filter((c) => d.locales[d.defaultLocale]?.[c] !== undefined),
    updatedAt,
  };
}
