import { parse, TYPE, type MessageFormatElement } from '@formatjs/icu-messageformat-parser';
import type { Problem, TemplateChannel, TemplateDefinition, VariableSpec, LocaleContent } from './types.ts';
import { TEMPLATE_CHANNELS } from './types.ts';

/**
 * ICU MessageFormat parsing and the checks a template passes before it is stored: every message
 * parses, every variable it uses is declared with a type that fits how it is used, and every
 * locale fallback ends somewhere. A template that passes renders for any data that passes
 * `checkData` (./data.ts), so delivery-time failures are left to the truly unexpected.
 *
 * Parsing and formatting are FormatJS's (`@formatjs/icu-messageformat-parser`, `intl-messageformat`)
 * rather than `@messageformat/core`: FormatJS formats with the platform's Intl (Node's full ICU:
 * CLDR plural rules, dates and numbers for every locale, time zones through the injectable
 * formatters of ./render.ts), exposes the AST (which the checks and the escaping below walk), and
 * interprets it instead of generating JavaScript source; @messageformat/core compiles messages
 * to functions with its own plural tables and has no time-zone option for dates.
 */

/** How a field's variables are inserted: as text, HTML-escaped, or URL-encoded. */
export type FieldKind = 'text' | 'html' | 'url';

const FIELDS: Record<TemplateChannel, Record<string, FieldKind>> = {
  push: { title: 'text', subtitle: 'text', body: 'text' },
  email: { subject: 'text', html: 'html', text: 'text' },
  inbox: { title: 'text', body: 'text', url: 'url' },
  webhook: { title: 'text', body: 'text' },
};

// Escaped copies of string variables travel under these prefixed names (see escapeArguments).
export const HTML_NAME = '\u0000html:';
export const URL_NAME = '\u0000url:';

export interface CompiledField {
  /** `title`, `body`, ... or `data.<key>` for webhook data. */
  readonly path: string;
  readonly kind: FieldKind;
  readonly ast: MessageFormatElement[];
}

/** A message's text of each field of one channel in one locale, as (field, text) pairs. */
export function fieldsOf(channel: TemplateChannel, content: NonNullable<LocaleContent[TemplateChannel]>): Array<{ path: string; kind: FieldKind; text: string }> {
  const out: Array<{ path: string; kind: FieldKind; text: string }> = [];
  const record = content as Record<string, unknown>;
  for (const [name, kind] of Object.entries(FIELDS[channel])) {
    const text = record[name];
    if (typeof text === 'string') out.push({ path: name, kind, text });
  }
  if (channel === 'webhook') {
    for (const [key, text] of Object.entries((content as { data?: Record<string, string> }).data ?? {})) out.push({ path: `data.${key}`, kind: 'text', text });
  }
  return out;
}

/** Parse one message; `<b>` and friends are plain text (ignoreTag), since e-mail HTML is text to ICU. */
export function parseMessage(text: string): MessageFormatElement[] {
  return parse(text, { ignoreTag: true, requiresOtherClause: true });
}

function describeParseError(err: unknown): string {
  const e = err as { message?: string; location?: { start?: { line?: number; column?: number } } };
  const what = (e.message ?? 'does not parse').toLowerCase().replace(/_/g, ' ');
  const at = e.location?.start;
  return at?.line !== undefined ? `is not ICU MessageFormat: ${what} at line ${at.line}, column ${at.column}` : `is not ICU MessageFormat: ${what}`;
}

type Usage = 'argument' | 'number' | 'date' | 'select' | 'plural';

/** Every variable a message uses, with how it is used. */
export function usagesOf(ast: readonly MessageFormatElement[], out: Array<{ name: string; usage: Usage }> = []): Array<{ name: string; usage: Usage }> {
  for (const el of ast) {
    switch (el.type) {
      case TYPE.argument: out.push({ name: el.value, usage: 'argument' }); break;
      case TYPE.number: out.push({ name: el.value, usage: 'number' }); break;
      case TYPE.date: case TYPE.time: out.push({ name: el.value, usage: 'date' }); break;
      case TYPE.select:
        out.push({ name: el.value, usage: 'select' });
        for (const option of Object.values(el.options)) usagesOf(option.value, out);
        break;
      case TYPE.plural:
        out.push({ name: el.value, usage: 'plural' });
        for (const option of Object.values(el.options)) usagesOf(option.value, out);
        break;
      default: break;
    }
  }
  return out;
}

const FITS: Record<Usage, readonly VariableSpec['type'][]> = {
  argument: ['string', 'number', 'boolean'],
  number: ['number'],
  plural: ['number'],
  date: ['date'],
  select: ['string', 'boolean'],
};

function usageProblem(name: string, usage: Usage, spec: VariableSpec | undefined): string | undefined {
  if (!spec) return `uses {${name}}, which is not declared in variables`;
  if (!FITS[usage].includes(spec.type)) {
    if (spec.type === 'date') return `uses the date {${name}} as ${usage === 'argument' ? 'text' : `a ${usage}`}: write {${name}, date, medium} or {${name}, time, short}`;
    return `uses {${name}} (a ${spec.type}) as ${usage === 'argument' ? 'text' : `a ${usage}`}, which needs a ${FITS[usage].join(' or ')}`;
  }
  // Plural forms, numbers and dates need a value; text and select have one for an absent optional variable.
  if ((usage === 'number' || usage === 'plural' || usage === 'date') && !spec.required && spec.default === undefined) {
    return `uses {${name}} as a ${usage}, so it must be required or have a default`;
  }
  return undefined;
}

function checkVariables(variables: Readonly<Record<string, VariableSpec>>): Problem[] {
  const problems: Problem[] = [];
  for (const [name, spec] of Object.entries(variables)) {
    const field = `body.variables.${name}`;
    if (spec.trusted && spec.type !== 'string') problems.push({ field: `${field}.trusted`, message: 'only string variables can be trusted' });
    const d = spec.default;
    if (d === undefined) continue;
    const ok = spec.type === 'date' ? typeof d === 'string' && isDateText(d) : typeof d === spec.type;
    if (!ok) problems.push({ field: `${field}.default`, message: `must be a ${spec.type === 'date' ? 'date (RFC 3339 text)' : spec.type}` });
  }
  return problems;
}

/** An RFC 3339 date-time (or a plain date) that Date can read. */
export function isDateText(text: string): boolean {
  return /^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2}))?$/.test(text) && !Number.isNaN(Date.parse(text));
}

const REQUIRED_FIELDS: Record<TemplateChannel, readonly string[]> = {
  push: ['title', 'body'],
  email: ['html', 'text'],
  inbox: ['title', 'body'],
  webhook: ['title', 'body', 'data'],
};

/** Everything wrong with a (normalised) definition; empty when it may be stored. */
export function checkDefinition(def: TemplateDefinition): Problem[] {
  const problems = checkVariables(def.variables);
  const fallback = def.locales[def.defaultLocale];
  if (!fallback) problems.push({ field: 'body.defaultLocale', message: `"${def.defaultLocale}" is not one of the template's locales` });
  for (const [locale, content] of Object.entries(def.locales)) {
    for (const channel of TEMPLATE_CHANNELS) {
      const block = content[channel];
      if (!block) continue;
      const at = `body.locales.${locale}.${channel}`;
      const record = block as Record<string, unknown>;
      if (!REQUIRED_FIELDS[channel].some((f) => record[f] !== undefined)) {
        problems.push({ field: at, message: `needs at least one of ${REQUIRED_FIELDS[channel].join(', ')}` });
      }
      if (fallback && !fallback[channel]) {
        problems.push({ field: at, message: `the default locale "${def.defaultLocale}" has no ${channel} content to fall back to` });
      }
      for (const { path, text } of fieldsOf(channel, block)) {
        let ast: MessageFormatElement[];
        try {
          ast = parseMessage(text);
        } catch (err) {
          problems.push({ field: `${at}.${path}`, message: describeParseError(err) });
          continue;
        }
        const seen = new Set<string>();
        for (const { name, usage } of usagesOf(ast)) {
          const problem = usageProblem(name, usage, def.variables[name]);
          if (problem && !seen.has(problem)) {
            seen.add(problem);
            problems.push({ field: `${at}.${path}`, message: problem });
          }
        }
      }
    }
  }
  return problems;
}

/**
 * Escaping by construction: in an HTML field every `{name}` of an untrusted string variable reads
 * the HTML-escaped copy of the value instead (and in a URL field, the URL-encoded copy). Select
 * and plural keys still see the raw value, so `{kind, select, ...}` matches as written.
 */
function escapeArguments(ast: readonly MessageFormatElement[], prefix: string, variables: Readonly<Record<string, VariableSpec>>): MessageFormatElement[] {
  return ast.map((el) => {
    if (el.type === TYPE.argument) {
      const spec = variables[el.value];
      return spec?.type === 'string' && !spec.trusted ? { ...el, value: prefix + el.value } : el;
    }
    if (el.type === TYPE.select || el.type === TYPE.plural) {
      const options = Object.fromEntries(Object.entries(el.options).map(([k, o]) => [k, { ...o, value: escapeArguments(o.value, prefix, variables) }]));
      return { ...el, options } as MessageFormatElement;
    }
    return el;
  });
}

/** The parsed fields of one channel in one locale, escaping applied. Throws when a message does not parse. */
export function compileChannel(def: TemplateDefinition, locale: string, channel: TemplateChannel): CompiledField[] | undefined {
  const block = def.locales[locale]?.[channel];
  if (!block) return undefined;
  return fieldsOf(channel, block).map(({ path, kind, text }) => {
    const ast = parseMessage(text);
    if (kind === 'html') return { path, kind, ast: escapeArguments(ast, HTML_NAME, def.variables) };
    if (kind === 'url') return { path, kind, ast: escapeArguments(ast, URL_NAME, def.variables) };
    return { path, kind, ast };
  });
}
