import type { Queryable } from '../db/pool.ts';
import type { QuietHours, SendWindow } from '../core/quiet-hours.ts';

/** The users table: every query on it lives here. */
export interface UserPreferences {
  readonly channels?: { readonly push?: boolean; readonly email?: boolean; readonly webhook?: boolean; readonly inbox?: boolean };
}

export interface User {
  readonly id: string;
  readonly email: string | null;
  readonly name: string | null;
  readonly timezone: string | null;
  readonly locale: string | null;
  readonly preferences: UserPreferences;
  /** Their own quiet hours (docs/timing.md); null: the app's default, if any. */
  readonly quietHours: QuietHours | null;
  /** Their own send window (docs/timing.md); null: the app's default, if any. */
  readonly sendWindow: SendWindow | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface UserFields {
  readonly email?: string | null | undefined;
  readonly name?: string | null | undefined;
  readonly timezone?: string | null | undefined;
  readonly locale?: string | null | undefined;
  readonly preferences?: UserPreferences | undefined;
  readonly quietHours?: QuietHours | null | undefined;
  readonly sendWindow?: SendWindow | null | undefined;
}

interface UserRecord {
  id: string;
  email: string | null;
  name: string | null;
  timezone: string | null;
  locale: string | null;
  preferences: UserPreferences;
  quiet_hours: QuietHours | null;
  send_window: SendWindow | null;
  created_at: Date;
  updated_at: Date;
  inserted?: boolean;
}

const COLUMNS = 'id, email, name, timezone, locale, preferences, quiet_hours, send_window, created_at, updated_at';

function toUser(r: UserRecord): User {
  return {
    id: r.id,
    email: r.email,
    name: r.name,
    timezone: r.timezone,
    locale: r.locale,
    preferences: r.preferences,
    quietHours: r.quiet_hours,
    sendWindow: r.send_window,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** `lock`: hold the row for the rest of the transaction (a read that decides a write). */
export async function findUser(db: Queryable, id: string, lock = false): Promise<User | undefined> {
  const { rows } = await db.query<UserRecord>(`SELECT ${COLUMNS} FROM users WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  return rows[0] ? toUser(rows[0]) : undefined;
}

/** PUT semantics: the row afterwards holds exactly `fields` (absent ones cleared). */
export async function replaceUser(db: Queryable, id: string, fields: UserFields): Promise<{ user: User; created: boolean }> {
  const { rows } = await db.query<UserRecord>(
    `INSERT INTO users (id, email, name, timezone, locale, preferences, quiet_hours, send_window)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb)
     ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name, timezone = EXCLUDED.timezone,
       locale = EXCLUDED.locale, preferences = EXCLUDED.preferences, quiet_hours = EXCLUDED.quiet_hours, send_window = EXCLUDED.send_window, updated_at = now()
     RETURNING ${COLUMNS}, (xmax = 0) AS inserted`,
    [id, fields.email ?? null, fields.name ?? null, fields.timezone ?? null, fields.locale ?? null, JSON.stringify(fields.preferences ?? {}), fields.quietHours ? JSON.stringify(fields.quietHours) : null,
      fields.sendWindow ? JSON.stringify(fields.sendWindow) : null],
  );
  const row = rows[0]!;
  return { user: toUser(row), created: row.inserted === true };
}

/**
 * Devices and reminders may name a user herald has not seen yet (a JWT's `sub`): create a bare
 * row. An e-mail address the caller's credentials carry (the JWT `email` claim, or the gateway's
 * `x-consumer-username` as in the old NestJS system) fills an empty `email`, so e-mail reminders can reach them.
 */
export async function ensureUser(db: Queryable, id: string, email?: string): Promise<void> {
  if (email === undefined) {
    await db.query(`INSERT INTO users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, [id]);
    return;
  }
  await db.query(
    `INSERT INTO users (id, email) VALUES ($1, $2)
     ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, updated_at = now() WHERE users.email IS NULL`,
    [id, email],
  );
}

/** Lock the user row for the rest of the transaction; false when it does not exist. */
export async function lockUser(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, [id]);
  return (rowCount ?? 0) > 0;
}

/** Deletes the user; devices, reminders and inbox items go with it (ON DELETE CASCADE). */
export async function deleteUser(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM users WHERE id = $1`, [id]);
  return (rowCount ?? 0) > 0;
}
