import type { Queryable } from '../db/pool.ts';
import { decodeCursor, encodeCursor, likePattern } from './cursor.ts';

/**
 * Finding a user for the console: by the start of the user id, or — when the text has an `@` —
 * by the start of the e-mail address (case-insensitive). Each is a keyset walk of one index in
 * its own order (migrations/0700_console.sql; byte order, "C", so LIKE 'abc%' is a range), so a
 * page costs the same on a table of millions. No text: every user, by id.
 */
export interface UserHit {
  readonly id: string;
  readonly email: string | null;
  readonly name: string | null;
  readonly createdAt: string;
}

export async function searchUsers(db: Queryable, query: string | undefined, limit: number, cursor: string | undefined, appIds?: readonly string[]): Promise<{ items: UserHit[]; nextCursor?: string }> {
  const text = query?.trim() ?? '';
  const byEmail = text.includes('@');
  const after = decodeCursor(cursor, 2);
  // An app-limited key sees only the users who belong to its apps (src/auth/app-access.ts).
  const inApps = `($APPS::text[] IS NULL OR EXISTS (SELECT 1 FROM app_users a WHERE a.user_id = users.id AND a.app_id = ANY ($APPS::text[]))
            OR EXISTS (SELECT 1 FROM devices d WHERE d.user_id = users.id AND d.app_id = ANY ($APPS::text[]))
            OR EXISTS (SELECT 1 FROM reminders r WHERE r.user_id = users.id AND r.app_id = ANY ($APPS::text[])))`;
  const apps = appIds ?? null;
  const { rows } = byEmail
    ? await db.query<{ id: string; email: string | null; name: string | null; created_at: Date; k: string }>(
        `SELECT id, email, name, created_at, lower(email) AS k FROM users
          WHERE email IS NOT NULL AND lower(email) COLLATE "C" LIKE $1
            AND ($2::text IS NULL OR (lower(email) COLLATE "C", id COLLATE "C") > ($2::text COLLATE "C", $3::text COLLATE "C"))
            AND ${inApps.replaceAll('$APPS', '$5')}
          ORDER BY lower(email) COLLATE "C", id COLLATE "C" LIMIT $4`,
        [likePattern(text.toLowerCase()), after?.[0] ?? null, after?.[1] ?? null, limit + 1, apps],
      )
    : await db.query<{ id: string; email: string | null; name: string | null; created_at: Date; k: string }>(
        `SELECT id, email, name, created_at, id AS k FROM users
          WHERE id COLLATE "C" LIKE $1 AND ($2::text IS NULL OR id COLLATE "C" > $2::text COLLATE "C")
            AND ${inApps.replaceAll('$APPS', '$4')}
          ORDER BY id COLLATE "C" LIMIT $3`,
        [likePattern(text), after?.[1] ?? null, limit + 1, apps],
      );
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map((r) => ({ id: r.id, email: r.email, name: r.name, createdAt: r.created_at.toISOString() })),
    ...(rows.length > limit && last ? { nextCursor: encodeCursor([last.k, last.id]) } : {}),
  };
}
