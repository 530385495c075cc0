import { HeraldError } from '../errors/index.ts';

/**
 * Opaque paging cursors (`?cursor=` → `nextCursor`): the sort key of the last row of a page,
 * as base64url JSON. Keyset paging stays fast on page 10,000 and never skips or repeats a row
 * when rows are added or removed between pages, unlike OFFSET.
 */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/**
 * The key a cursor holds; 400 VALIDATION_FAILED naming `querystring.cursor` when it is not one
 * herald made with `arity` parts (a NUL character, which PostgreSQL's text cannot hold, included).
 */
export function decodeCursor(cursor: string | undefined, arity: number): string[] | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== arity || !parsed.every((p) => (typeof p === 'string' && !p.includes('\u0000')) || typeof p === 'number')) {
    throw new HeraldError('VALIDATION_FAILED', 'cursor: not a cursor this list returned', [{ field: 'querystring.cursor', message: 'is not a valid cursor' }]);
  }
  return parsed.map(String);
}

/** A page of `limit` rows from a query that fetched `limit + 1`: the rows and the next cursor. */
export function page<T>(rows: readonly T[], limit: number, key: (row: T) => readonly (string | number)[]): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(key(last)) : null };
}
