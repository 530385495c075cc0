import type { Queryable } from '../db/pool.ts';
import type { QuietHours, SendWindow } from '../core/quiet-hours.ts';

/** The apps table: every query on it lives here. */
export interface AppRecord {
  readonly id: string;
  readonly name: string;
  readonly settings: Record<string, unknown>;
  readonly secrets: Buffer | null;
  readonly status: Record<string, { problem: string; at: string }>;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

interface Row {
  id: string;
  name: string;
  settings: Record<string, unknown>;
  secrets: Buffer | null;
  status: Record<string, { problem: string; at: string }>;
  created_at: Date;
  updated_at: Date;
}

const toRecord = (r: Row): AppRecord => ({
  id: r.id,
  name: r.name,
  settings: r.settings,
  secrets: r.secrets,
  status: r.status,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export async function findApp(db: Queryable, id: string): Promise<AppRecord | undefined> {
  const { rows } = await db.query<Row>(`SELECT id, name, settings, secrets, status, created_at, updated_at FROM apps WHERE id = $1`, [id]);
  return rows[0] ? toRecord(rows[0]) : undefined;
}

export async function appExists(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM apps WHERE id = $1`, [id]);
  return (rowCount ?? 0) > 0;
}

/** PUT: replace name, settings and secrets; a replaced credential's reported problems are cleared. */
export async function upsertApp(db: Queryable, id: string, name: string, settings: Record<string, unknown>, secrets: Buffer): Promise<{ app: AppRecord; created: boolean }> {
  const { rows } = await db.query<Row & { inserted: boolean }>(
    `INSERT INTO apps (id, name, settings, secrets) VALUES ($1, $2, $3::jsonb, $4)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, settings = EXCLUDED.settings, secrets = EXCLUDED.secrets,
       status = '{}', updated_at = now()
     RETURNING id, name, settings, secrets, status, created_at, updated_at, (xmax = 0) AS inserted`,
    [id, name, JSON.stringify(settings), secrets],
  );
  const row = rows[0]!;
  return { app: toRecord(row), created: row.inserted };
}

/** Set or clear one channel's problem; creates the `default` row (env-configured) on first report. */
export async function setProblem(db: Queryable, id: string, channel: string, problem: string | undefined): Promise<void> {
  if (problem === undefined) {
    await db.query(`UPDATE apps SET status = status - $2 WHERE id = $1 AND status ? $2`, [id, channel]);
    return;
  }
  const entry = JSON.stringify({ [channel]: { problem, at: new Date().toISOString() } });
  await db.query(
    `INSERT INTO apps (id, name, status) SELECT $1, $1, $2::jsonb WHERE $1 = 'default'
     ON CONFLICT (id) DO UPDATE SET status = apps.status || EXCLUDED.status`,
    [id, entry],
  );
  if (id !== 'default') await db.query(`UPDATE apps SET status = status || $2::jsonb WHERE id = $1`, [id, entry]);
}

/**
 * The app's default locale (templates fall back to it): 'en' for the environment's `default` app
 * until it is PUT; undefined for an app that does not exist.
 */
export async function findDefaultLocale(db: Queryable, id: string): Promise<string | undefined> {
  const { rows } = await db.query<{ default_locale: string }>(`SELECT default_locale FROM apps WHERE id = $1`, [id]);
  return rows[0]?.default_locale ?? (id === 'default' ? 'en' : undefined);
}

export async function setDefaultLocale(db: Queryable, id: string, locale: string): Promise<void> {
  await db.query(`UPDATE apps SET default_locale = $2 WHERE id = $1`, [id, locale]);
}

/** How many days the app keeps finished notifications, inbox items and events; null: HERALD_RETENTION_DAYS. */
export async function findRetentionDays(db: Queryable, id: string): Promise<number | null> {
  const { rows } = await db.query<{ retention_days: number | null }>(`SELECT retention_days FROM apps WHERE id = $1`, [id]);
  return rows[0]?.retention_days ?? null;
}

export async function setRetentionDays(db: Queryable, id: string, days: number | null): Promise<void> {
  await db.query(`UPDATE apps SET retention_days = $2 WHERE id = $1`, [id, days]);
}

/** The app's timing defaults (docs/timing.md): the zone, quiet hours and send window of users who have none. */
export interface AppTiming {
  readonly defaultTimezone: string | null;
  readonly quietHours: QuietHours | null;
  readonly sendWindow: SendWindow | null;
}

export async function findTiming(db: Queryable, id: string): Promise<AppTiming> {
  const { rows } = await db.query<{ default_timezone: string | null; quiet_hours: QuietHours | null; send_window: SendWindow | null }>(
    `SELECT default_timezone, quiet_hours, send_window FROM apps WHERE id = $1`, [id]);
  return { defaultTimezone: rows[0]?.default_timezone ?? null, quietHours: rows[0]?.quiet_hours ?? null, sendWindow: rows[0]?.send_window ?? null };
}

export async function setTiming(db: Queryable, id: string, timing: AppTiming): Promise<void> {
  await db.query(`UPDATE apps SET default_timezone = $2, quiet_hours = $3::jsonb, send_window = $4::jsonb WHERE id = $1`, [
    id, timing.defaultTimezone, timing.quietHours ? JSON.stringify(timing.quietHours) : null, timing.sendWindow ? JSON.stringify(timing.sendWindow) : null,
  ]);
}
