/**
 * Locale tags and fallback chains. Tags are BCP 47; `Intl` canonicalises them (`de_at` → `de-AT`)
 * so a user's stored locale and a template's keys compare equal however they were written.
 */

/** The canonical form of a tag (underscores accepted), or undefined when it is not a tag. */
export function canonicalLocale(tag: string | null | undefined): string | undefined {
  if (!tag) return undefined;
  try {
    return Intl.getCanonicalLocales(tag.trim().replace(/_/g, '-'))[0];
  } catch {
    return undefined;
  }
}

/**
 * The tags to try for a user, most specific first: `zh-Hant-TW` → `zh-Hant-TW`, `zh-Hant`, `zh`;
 * `de-AT-u-co-phonebk` → `de-AT`, `de`. Extensions and private use do not pick translations.
 */
export function localeChain(tag: string | null | undefined): string[] {
  const canonical = canonicalLocale(tag);
  if (!canonical) return [];
  const base = new Intl.Locale(canonical).baseName.split('-');
  const chain: string[] = [];
  for (let n = base.length; n >= 1; n--) chain.push(base.slice(0, n).join('-'));
  return chain;
}

const zones = new Map<string, boolean>();

/** True for a time zone `Intl` knows (IANA names); remembered, since it is asked per delivery. */
export function isTimeZone(zone: string): boolean {
  let ok = zones.get(zone);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone });
      ok = true;
    } catch {
      ok = false;
    }
    if (zones.size > 2_000) zones.clear();
    zones.set(zone, ok);
  }
  return ok;
}
