import { formatToParts, IntlMessageFormat, type Formatters } from 'intl-messageformat';
import type { TemplateChannel, TemplateDefinition, VariableSpec } from './types.ts';
import { compileChannel, HTML_NAME, URL_NAME, type CompiledField } from './compile.ts';
import { canonicalLocale, isTimeZone, localeChain } from '../core/locale.ts';

/**
 * Rendering: one channel of a template version for one recipient — the locale picked by the
 * fallback chain (`de-AT` → `de` → the template's default locale), plural and select forms by
 * CLDR's rules (Node's ICU through Intl.PluralRules), dates, times and numbers formatted for the
 * recipient's locale and time zone. Pure apart from its caches, so it runs the same in the
 * worker, the preview route and the e-mail channel's built-in fallback.
 */

export interface Recipient {
  /** BCP 47 tag as stored on the user (`de-AT`, `de_at`); absent or unknown → the default locale. */
  readonly locale?: string | null | undefined;
  /** IANA zone; absent or unknown → UTC. */
  readonly timeZone?: string | null | undefined;
}

export interface RenderedChannel {
  readonly channel: TemplateChannel;
  /** The template locale whose messages were used. */
  readonly locale: string;
  /** `title`, `body`, `subject`, ... and `data.<key>` for webhook data. */
  readonly fields: Readonly<Record<string, string>>;
}

// Intl formatters are costly to build and cheap to reuse; one set per time zone (dates need the
// zone; numbers and plural rules do not). The options objects intl-messageformat passes are the
// same objects every time (its named styles, or a skeleton parsed once into the cached AST), so
// formatters are found by that object's identity and the locale: no key is serialised per call.
// Bounded: a cache is dropped when it grows large.
const MAX_CACHED = 5_000;
const pluralRules = new Map<string, Intl.PluralRules>();
const zoneFormatters = new Map<string, Formatters>();

function cached<T>(map: Map<string, T>, key: string, make: () => T): T {
  let value = map.get(key);
  if (value === undefined) {
    if (map.size >= MAX_CACHED) map.clear();
    value = make();
    map.set(key, value);
  }
  return value;
}

/** Formatters by (options object, locale); options absent share one entry. */
function byOptions<O extends object, F>(make: (locale: string, options: O | undefined) => F): (locales: string | string[] | undefined, options?: O) => F {
  const withOptions = new WeakMap<O, Map<string, F>>();
  const plain = new Map<string, F>();
  return (locales, options) => {
    const locale = String(locales);
    let perLocale = options ? withOptions.get(options) : plain;
    if (!perLocale) withOptions.set(options!, (perLocale = new Map()));
    let formatter = perLocale.get(locale);
    if (formatter === undefined) {
      if (perLocale.size >= MAX_CACHED) perLocale.clear();
      formatter = make(locale, options);
      perLocale.set(locale, formatter);
    }
    return formatter;
  };
}

const numberFormat = byOptions<object, Intl.NumberFormat>((locale, options) => new Intl.NumberFormat(locale, options as Intl.NumberFormatOptions));

function formattersFor(timeZone: string): Formatters {
  return cached(zoneFormatters, timeZone, () => {
    const dateFormat = byOptions<Intl.DateTimeFormatOptions, Intl.DateTimeFormat>((locale, options) => new Intl.DateTimeFormat(locale, { ...options, timeZone }));
    return {
      getNumberFormat: (locales, options) => numberFormat(locales, options),
      // A new options object per call ({type}), so these are keyed by the plural type.
      getPluralRules: (locales, options) => cached(pluralRules, `${String(locales)}|${options?.type ?? 'cardinal'}`, () => new Intl.PluralRules(locales, options)),
      // Every date and time in the message, named styles and skeletons alike, in the recipient's zone.
      getDateTimeFormat: (locales, options) => dateFormat(locales as string | string[] | undefined, options),
    };
  });
}

const chains = new Map<string, { chain: string[]; canonical: string | undefined }>();

function chainOf(locale: string | null | undefined): { chain: string[]; canonical: string | undefined } {
  return cached(chains, locale ?? '', () => ({ chain: localeChain(locale), canonical: canonicalLocale(locale) }));
}

/**
 * HTML-escapes text for element content and quoted attributes: the five characters OWASP names.
 * Written out rather than a dependency: the whole rule is this table.
 */
const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);
}

type Value = string | number | Date;

function valuesFor(variables: Readonly<Record<string, VariableSpec>>, data: Readonly<Record<string, unknown>>, fields: readonly CompiledField[]): Record<string, Value> {
  const html = fields.some((f) => f.kind === 'html');
  const url = fields.some((f) => f.kind === 'url');
  const values: Record<string, Value> = {};
  for (const [name, spec] of Object.entries(variables)) {
    const raw = data[name] ?? spec.default;
    switch (spec.type) {
      case 'string': {
        const text = typeof raw === 'string' ? raw : '';
        values[name] = text;
        if (html) values[HTML_NAME + name] = escapeHtml(text);
        if (url) values[URL_NAME + name] = encodeURIComponent(text);
        break;
      }
      case 'number':
        if (typeof raw === 'number') values[name] = raw;
        break;
      case 'boolean':
        // select keys are text: {flag, select, true {...} other {...}}
        values[name] = String(raw === true);
        break;
      case 'date':
        if (typeof raw === 'string') values[name] = new Date(raw);
        break;
    }
  }
  return values;
}

/**
 * One version of a template with its parsed messages, compiled per locale and channel on first
 * use and kept (a version never changes, so neither does what it compiles to).
 */
export class CompiledTemplate {
  readonly key: string;
  readonly version: number;
  readonly definition: TemplateDefinition;
  readonly #fields = new Map<string, CompiledField[] | undefined>();

  constructor(key: string, version: number, definition: TemplateDefinition) {
    this.key = key;
    this.version = version;
    this.definition = definition;
  }

  /** True when the template has content for the channel (the default locale always has, if any has). */
  has(channel: TemplateChannel): boolean {
    return this.definition.locales[this.definition.defaultLocale]?.[channel] !== undefined;
  }

  /** The template locale a recipient gets for a channel: the first of their chain that has it, else the default. */
  localeFor(channel: TemplateChannel, locale: string | null | undefined): string | undefined {
    const locales = this.definition.locales;
    for (const tag of chainOf(locale).chain) if (locales[tag]?.[channel]) return tag;
    return this.has(channel) ? this.definition.defaultLocale : undefined;
  }

  #compiled(locale: string, channel: TemplateChannel): CompiledField[] | undefined {
    const key = `${locale}\u0000${channel}`;
    if (!this.#fields.has(key)) this.#fields.set(key, compileChannel(this.definition, locale, channel));
    return this.#fields.get(key);
  }

  /**
   * The channel's fields for a recipient, or undefined when the template has no content for the
   * channel. Throws when formatting fails (a value Intl refuses); callers turn that into a
   * failed delivery.
   */
  render(channel: TemplateChannel, recipient: Recipient, data: Readonly<Record<string, unknown>>): RenderedChannel | undefined {
    const locale = this.localeFor(channel, recipient.locale);
    if (!locale) return undefined;
    const fields = this.#compiled(locale, channel) ?? [];
    const { chain, canonical } = chainOf(recipient.locale);
    // Austrian readers of the German text get Austrian dates ("Jänner"); a reader who fell back
    // to another language gets that language's formats, so the sentence reads as one language.
    const formatLocale = canonical && chain.includes(locale) ? canonical : locale;
    const zone = recipient.timeZone && isTimeZone(recipient.timeZone) ? recipient.timeZone : 'UTC';
    const formatters = formattersFor(zone);
    const values = valuesFor(this.definition.variables, data, fields);
    const out: Record<string, string> = {};
    for (const field of fields) {
      const parts = formatToParts<Value>(field.ast, formatLocale, formatters, IntlMessageFormat.formats, values);
      out[field.path] = parts.length === 1 ? String(parts[0]!.value) : parts.map((p) => String(p.value)).join('');
    }
    return { channel, locale, fields: out };
  }
}
