import { validation } from '../errors/index.ts';

/** Keyset cursors: the sort key of a page's last row, opaque to clients (base64url JSON of strings). */
export function encodeCursor(parts: readonly string[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

/** The parts of a cursor this API gave out; anything else is a 400 naming `query.cursor`. */
export function decodeCursor(cursor: string | undefined, count: number): string[] | undefined {
  if (cursor === undefined) return undefined;
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parts = undefined;
  }
  if (!Array.isArray(parts) || parts.length !== count || !parts.every((p) => typeof p === 'string' && p.length <= 400)) {
    throw validation('query.cursor: not a cursor from a previous page', [{ field: 'query.cursor', message: 'pass nextCursor from a previous page unchanged' }]);
  }
  return parts as string[];
}

/** A LIKE pattern matching text that starts with (or, `anywhere`, contains) `text` literally. */
export function likePattern(text: string, anywhere = false): string {
  const literal = text.replace(/[\\%_]/g, (c) => `\\${c}`);
  return anywhere ? `%${literal}%` : `${literal}%`;
}
