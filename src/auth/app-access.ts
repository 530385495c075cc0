import type { Queryable } from '../db/pool.ts';

/**
 * Which app-limited keys may see a user. Users are shared by every app of a deployment, so a
 * user belongs to an app when they were created or changed through a key limited to it
 * (`app_users`), or have a device or a reminder in it.
 */
export async function userInApps(db: Queryable, userId: string, appIds: readonly string[]): Promise<'yes' | 'no' | 'absent'> {
  const { rows } = await db.query<{ member: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM app_users WHERE user_id = u.id AND app_id = ANY($2))
         OR EXISTS (SELECT 1 FROM devices WHERE user_id = u.id AND app_id = ANY($2))
         OR EXISTS (SELECT 1 FROM reminders WHERE user_id = u.id AND app_id = ANY($2)) AS member
       FROM users u WHERE u.id = $1`,
    [userId, appIds],
  );
  if (rows.length === 0) return 'absent';
  return rows[0]!.member ? 'yes' : 'no';
}

/** Record that the user belongs to these apps (a key limited to them created or changed the user). */
export async function addUserToApps(db: Queryable, userId: string, appIds: readonly string[]): Promise<void> {
  await db.query(
    `INSERT INTO app_users (user_id, app_id) SELECT $1, unnest($2::text[]) WHERE EXISTS (SELECT 1 FROM users WHERE id = $1)
     ON CONFLICT DO NOTHING`,
    [userId, appIds],
  );
}

/** The app a notification was sent in; undefined when there is no such notification. */
export async function notificationApp(db: Queryable, id: string): Promise<string | undefined> {
  const { rows } = await db.query<{ app_id: string }>(`SELECT app_id FROM notifications WHERE id = $1`, [id]);
  return rows[0]?.app_id;
}
