import type { FastifyInstance } from 'fastify';
import { HeraldError } from '../../errors/index.ts';

/**
 * JSON request bodies, checked before anything else sees them:
 *
 * - Nesting deeper than `maxDepth` is refused before parsing: a body of 10,000 nested arrays is
 *   parsed by JSON.parse, but every recursive walk after it (validation, serialisation, our own
 *   checks) would then risk the stack. The depth is counted in one linear pass over the text.
 * - A NUL character (U+0000) anywhere, in a value or a key, is refused with the field that holds
 *   it: PostgreSQL's text and jsonb cannot store it, so it would otherwise fail at the INSERT,
 *   after validation, as an error of the server's.
 * - So is a lone UTF-16 surrogate (an escape such as \ud800 without its pair): it is no
 *   character at all, has no UTF-8 form, and PostgreSQL refuses it the same way.
 *
 * Parsing itself stays Fastify's (secure-json-parse, refusing __proto__ and constructor keys).
 */
export function registerJsonBody(app: FastifyInstance, maxDepth: number): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (deeperThan(text, maxDepth)) {
      done(new HeraldError('VALIDATION_FAILED', `body: nested deeper than ${maxDepth} levels`, [{ field: 'body', message: `nested deeper than ${maxDepth} levels` }]), undefined);
      return;
    }
    parse(request, text, (err, value) => {
      if (err) return done(err, undefined);
      // JSON can only carry U+0000 or a lone surrogate as an escape (\u0000, \ud800: a raw
      // control character does not parse, and bytes that are not UTF-8 decode to U+FFFD):
      // without such an escape in the body there is nothing to look for.
      const bad = text.includes('\\u0000') || SURROGATE_ESCAPE.test(text) ? badTextField(value, 'body') : undefined;
      if (bad) return done(new HeraldError('VALIDATION_FAILED', `${bad.field}: ${bad.message}`, [bad]), undefined);
      done(null, value);
    });
  });
}

/** True when `{`/`[` nest deeper than `max` outside strings. */
function deeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
/** A high surrogate without a low one after it, or a low one without a high one before it. */
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_ALL = new RegExp(LONE.source, 'g');
const NUL = 'must not contain the NUL character (U+0000)';
const LONE_SURROGATE = 'must not contain a lone UTF-16 surrogate (an escape such as \\ud800 without its pair)';

/** What is wrong with a string PostgreSQL cannot store, if anything. */
function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return NUL;
  if (LONE.test(text)) return LONE_SURROGATE;
  return undefined;
}

/** The path of the first string or key PostgreSQL cannot store, and why (the depth is bounded by now). */
function badTextField(value: unknown, path: string): { field: string; message: string } | undefined {
  if (typeof value === 'string') {
    const message = textProblem(value);
    return message ? { field: path, message } : undefined;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = badTextField(item, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const at = `${path}.${key.replace(/\u0000/g, '\\u0000').replace(LONE_ALL, '\uFFFD')}`;
      const message = textProblem(key);
      if (message) return { field: at, message };
      const found = badTextField(item, at);
      if (found) return found;
    }
  }
  return undefined;
}
