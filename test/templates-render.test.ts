import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompiledTemplate } from '../src/templates/render.ts';
import { checkDefinition } from '../src/templates/compile.ts';
import { checkData } from '../src/templates/data.ts';
import { localeChain } from '../src/core/locale.ts';
import { renderBuiltInReminder } from '../src/templates/builtin.ts';
import type { TemplateDefinition } from '../src/templates/types.ts';

/** Rendering: CLDR plural forms, locale fallback, dates in the recipient's zone, escaping by construction. */

function template(def: TemplateDefinition, key = 't', version = 1): CompiledTemplate {
  assert.deepEqual(checkDefinition(def), [], 'the test template itself is valid');
  return new CompiledTemplate(key, version, def);
}

const files = template({
  variables: { count: { type: 'number', required: true } },
  defaultLocale: 'en',
  locales: {
    en: { push: { body: '{count, plural, one {# file} other {# files}}' } },
    pl: { push: { body: '{count, plural, one {# plik} few {# pliki} many {# plików} other {# pliku}}' } },
    ar: { push: { body: '{count, plural, zero {لا ملفات} one {ملف واحد} two {ملفان} few {# ملفات} many {# ملفًا} other {# ملف}}' } },
  },
});
const body = (t: CompiledTemplate, locale: string, data: Record<string, unknown>, timeZone?: string) => t.render('push', { locale, timeZone }, data)!.fields.body;

test('Polish plural forms: one, few, many and other, from CLDR', () => {
  const got = [1, 2, 4, 5, 12, 22, 25, 1.5].map((count) => body(files, 'pl', { count }));
  assert.deepEqual(got, ['1 plik', '2 pliki', '4 pliki', '5 plików', '12 plików', '22 pliki', '25 plików', '1,5 pliku']);
});

test('Arabic plural forms: all six categories', () => {
  const got = [0, 1, 2, 3, 11, 100].map((count) => body(files, 'ar', { count }));
  assert.deepEqual(got, ['لا ملفات', 'ملف واحد', 'ملفان', '3 ملفات', '11 ملفًا', '100 ملف']);
});

test('English plural forms stay one and other', () => {
  assert.deepEqual([0, 1, 2].map((count) => body(files, 'en', { count })), ['0 files', '1 file', '2 files']);
});

const greeting = template({
  variables: { name: { type: 'string', required: true }, when: { type: 'date', required: true } },
  defaultLocale: 'en',
  locales: {
    en: { push: { title: 'Hello {name}', body: 'See you on {when, date, long} at {when, time, short}' }, inbox: { body: 'Hello {name}' } },
    de: { push: { title: 'Hallo {name}', body: 'Bis {when, date, long} um {when, time, short}' } },
  },
});
const when = '2027-01-04T08:30:00Z';

test('a German user gets German, with dates in their time zone', () => {
  const out = greeting.render('push', { locale: 'de-DE', timeZone: 'Europe/Berlin' }, { name: 'Ada', when })!;
  assert.equal(out.locale, 'de');
  assert.equal(out.fields.title, 'Hallo Ada');
  assert.equal(out.fields.body, 'Bis 4. Januar 2027 um 09:30');
});

test('an Austrian user without a de-AT variant gets German, with Austrian month names', () => {
  const out = greeting.render('push', { locale: 'de-AT', timeZone: 'Europe/Vienna' }, { name: 'Ada', when })!;
  assert.equal(out.locale, 'de');
  assert.equal(out.fields.body, 'Bis 4. Jänner 2027 um 09:30');
  assert.equal(greeting.render('push', { locale: 'de_at' }, { name: 'Ada', when })!.locale, 'de', 'underscores are accepted');
});

test('a user with an unknown, malformed or missing locale gets the default locale', () => {
  for (const locale of ['xx-YY', 'sw', 'not a locale!', undefined]) {
    const out = greeting.render('push', { locale, timeZone: 'America/New_York' }, { name: 'Ada', when })!;
    assert.equal(out.locale, 'en', String(locale));
    assert.equal(out.fields.body, 'See you on January 4, 2027 at 3:30 AM', String(locale));
  }
});

test('an unknown time zone formats in UTC rather than failing', () => {
  assert.equal(body(greeting, 'en', { name: 'A', when }, 'Mars/Olympus'), 'See you on January 4, 2027 at 8:30 AM');
});

test('a channel missing in the chosen locale falls back per channel to the default locale', () => {
  const out = greeting.render('inbox', { locale: 'de' }, { name: 'Ada', when })!;
  assert.equal(out.locale, 'en');
  assert.equal(out.fields.body, 'Hello Ada');
  assert.equal(greeting.render('email', { locale: 'de' }, { name: 'Ada', when }), undefined, 'no e-mail content at all');
});

test('fallback chains drop subtags one at a time', () => {
  assert.deepEqual(localeChain('zh-Hant-TW'), ['zh-Hant-TW', 'zh-Hant', 'zh']);
  assert.deepEqual(localeChain('de-AT-u-co-phonebk'), ['de-AT', 'de']);
  assert.deepEqual(localeChain('pt_br'), ['pt-BR', 'pt']);
  assert.deepEqual(localeChain('!!'), []);
});

test('numbers follow the locale', () => {
  const t = template({ variables: { total: { type: 'number', required: true } }, defaultLocale: 'en', locales: { en: { push: { body: '{total, number}' } }, de: { push: { body: '{total, number}' } } } });
  assert.equal(body(t, 'en-US', { total: 1234567.5 }), '1,234,567.5');
  assert.equal(body(t, 'de', { total: 1234567.5 }), '1.234.567,5');
});

const mail = template({
  variables: {
    name: { type: 'string', required: true },
    kind: { type: 'string', required: true },
    snippet: { type: 'string', trusted: true },
    path: { type: 'string', required: true },
    vip: { type: 'boolean' },
  },
  defaultLocale: 'en',
  locales: {
    en: {
      email: {
        subject: 'For {name}',
        html: '<p>Hi {name}, {kind, select, news {news} other {plain}}</p>{snippet}{vip, select, true {<b>VIP</b>} other {}}',
        text: 'Hi {name}',
      },
      inbox: { title: 'x', url: 'https://example.org/files/{path}?who={name}' },
    },
  },
});

test('HTML e-mail escapes variables, unless the schema marks them trusted', () => {
  const out = mail.render('email', {}, { name: '<script>alert("x")</script> & \'co\'', kind: 'news', snippet: '<i>ok</i>', path: 'p' })!.fields;
  assert.equal(out.html, '<p>Hi &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;, news</p><i>ok</i>');
  assert.ok(!out.html!.includes('<script>'));
  assert.equal(out.text, 'Hi <script>alert("x")</script> & \'co\'', 'the text part is not HTML');
  assert.equal(out.subject, 'For <script>alert("x")</script> & \'co\'');
});

test('variables in URL fields are percent-encoded', () => {
  const out = mail.render('inbox', {}, { name: 'a b&c=d', kind: 'k', path: '../x y' })!.fields;
  assert.equal(out.url, 'https://example.org/files/..%2Fx%20y?who=a%20b%26c%3Dd');
});

test('booleans select their branch; an absent optional string is empty', () => {
  assert.match(mail.render('email', {}, { name: 'A', kind: 'k', path: 'p', vip: true })!.fields.html!, /<b>VIP<\/b>$/);
  assert.equal(mail.render('email', {}, { name: 'A', kind: 'k', path: 'p' })!.fields.html, '<p>Hi A, plain</p>');
});

test('a template that does not compile names the locale, channel and field', () => {
  const problems = checkDefinition({
    variables: { n: { type: 'number', required: true }, when: { type: 'date' }, s: { type: 'string', required: true } },
    defaultLocale: 'en',
    locales: {
      en: { push: { body: '{n, plural, one {# x}}' }, email: { subject: 'Hi {who}', text: '{s, plural, other {#}}' } },
      de: { push: { title: 'on {when, date, short}', body: 'at {when}' }, inbox: { body: 'x' } },
    },
  });
  assert.deepEqual(problems, [
    { field: 'body.locales.en.push.body', message: 'is not ICU MessageFormat: missing other clause at line 1, column 22' },
    { field: 'body.locales.en.email.subject', message: 'uses {who}, which is not declared in variables' },
    { field: 'body.locales.en.email.text', message: 'uses {s} (a string) as a plural, which needs a number' },
    { field: 'body.locales.de.push.title', message: 'uses {when} as a date, so it must be required or have a default' },
    { field: 'body.locales.de.push.body', message: 'uses the date {when} as text: write {when, date, medium} or {when, time, short}' },
    { field: 'body.locales.de.inbox', message: 'the default locale "en" has no inbox content to fall back to' },
  ]);
});

test('variable declarations are checked: defaults of the right type, trust only for strings', () => {
  const problems = checkDefinition({
    variables: { a: { type: 'number', default: 'x' }, b: { type: 'date', default: 'tomorrow' }, c: { type: 'boolean', trusted: true } },
    defaultLocale: 'fr',
    locales: { en: { push: {} } },
  });
  assert.deepEqual(problems.map((p) => p.field), ['body.variables.a.default', 'body.variables.b.default', 'body.variables.c.trusted', 'body.defaultLocale', 'body.locales.en.push']);
});

test('data: each missing or mistyped variable is named; undeclared keys are dropped', () => {
  const variables = { name: { type: 'string', required: true }, count: { type: 'number', required: true }, when: { type: 'date' }, ok: { type: 'boolean' } } as const;
  const { problems } = checkData(variables, { count: '3', when: 'next week', ok: 'yes' });
  assert.deepEqual(problems, [
    { field: 'body.template.data.count', message: 'must be a number, not the text "3"' },
    { field: 'body.template.data.name', message: 'is required (a string)' },
    { field: 'body.template.data.ok', message: 'must be a boolean, not the text "yes"' },
    { field: 'body.template.data.when', message: 'must be a date: RFC 3339 text such as 2026-12-01T09:00:00Z, not the text "next week"' },
  ]);
  assert.deepEqual(checkData(variables, { name: 'A', count: 2, extra: 1 }), { data: { name: 'A', count: 2 }, problems: [] });
});

test('defaults fill absent optional variables', () => {
  const t = template({ variables: { n: { type: 'number', default: 3 } }, defaultLocale: 'en', locales: { en: { push: { body: '{n, plural, one {# item} other {# items}}' } } } });
  assert.equal(body(t, 'en', {}), '3 items');
});

test('the built-in reminder e-mail speaks English and German, escaped', () => {
  const en = renderBuiltInReminder({ locale: 'en-GB' }, { name: 'Ann', title: 'Dentist <at> 3pm', body: 'x', url: 'javascript:alert(1)' });
  assert.equal(en.subject, 'Dentist <at> 3pm');
  assert.match(en.html, /<p>Hi Ann,<\/p>/);
  assert.match(en.html, /Dentist &lt;at&gt; 3pm/);
  assert.ok(!en.html.includes('javascript:'), 'only web links become links');
  const de = renderBuiltInReminder({ locale: 'de-CH' }, { body: 'Zahnarzt' });
  assert.equal(de.subject, 'Erinnerung');
  assert.match(de.text, /^Hallo,\n\nZahnarzt\n\n-- \nVon herald gesendet/);
});
