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
      // JSON can only carry U+0000 as the escape \u0000 (a raw control character does not
      // parse): without that text in the body there is nothing to look for.
      const field = text.includes('\\u0000') ? nulField(value, 'body') : undefined;
      if (field) return done(new HeraldError('VALIDATION_FAILED', `${field}: must not contain the NUL character (U+0000)`, [{ field, message: 'must not contain the NUL character (U+0000)' }]), undefined);
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

/** The path of the first string or key holding U+0000 (the depth is bounded by now). */
function nulField(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = nulField(item, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const at = `${path}.${key.replace(/\u0000/g, '\\u0000')}`;
      if (key.includes('\u0000')) return at;
      const found = nulField(item, at);
      if (found) return found;
    }
  }
  return undefined;
}
