import type { Queryable } from '../db/pool.ts';

/** Notification types of an app (security, marketing, ...): their defaults and whether they are required. */
export interface TypeRow {
  app_id: string;
  key: string;
  name: string | null;
  description: string | null;
  required: boolean;
  channels: Record<string, boolean>;
  /** The frequency cap (migration 0910); null: none. */
  cap: StoredTypeCap | null;
  created_at: Date;
  updated_at: Date;
}

/** A type's frequency cap as stored: `per` as given and in seconds (src/dispatch/cap-step.ts reads it). */
export interface StoredTypeCap {
  readonly max: number;
  readonly per: string;
  readonly perSeconds: number;
  readonly action: 'defer' | 'drop';
  readonly channel?: string;
}

/** What a notification keeps of its type: fan-out decides with it (SQL function herald_wants). */
export interface TypeRule {
  readonly key: string;
  readonly required: boolean;
  readonly channels: Readonly<Record<string, boolean>>;
  /** Some users chose a digest for the type (docs/timing.md): its notifications are collected for them. */
  readonly digestChoices?: boolean;
}

export async function upsertType(db: Queryable, appId: string, key: string, f: { name: string | null; description: string | null; required: boolean; channels: Record<string, boolean>; cap: StoredTypeCap | null }): Promise<{ row: TypeRow; created: boolean }> {
  const { rows } = await db.query<TypeRow & { created: boolean }>(
    `INSERT INTO notification_types (app_id, key, name, description, required, channels, cap) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)
     ON CONFLICT (app_id, key) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description, required = EXCLUDED.required,
            channels = EXCLUDED.channels, cap = EXCLUDED.cap, updated_at = now()
     RETURNING *, (xmax = 0) AS created`,
    [appId, key, f.name, f.description, f.required, JSON.stringify(f.channels), f.cap === null ? null : JSON.stringify(f.cap)],
  );
  const { created, ...row } = rows[0]!;
  return { row, created };
}

export async function getType(db: Queryable, appId: string, key: string): Promise<(TypeRow & { digest_choices: boolean }) | undefined> {
  // Whether anyone chose a digest for it comes in the same round trip (index user_type_preferences_digest).
  const { rows } = await db.query<TypeRow & { digest_choices: boolean }>(
    `SELECT t.*, EXISTS (SELECT 1 FROM user_type_preferences p WHERE p.app_id = t.app_id AND p.type_key = t.key AND p.digest IS NOT NULL) AS digest_choices
       FROM notification_types t WHERE t.app_id = $1 AND t.key = $2`,
    [appId, key],
  );
  return rows[0];
}

export async function listTypes(db: Queryable, appId: string): Promise<TypeRow[]> {
  const { rows } = await db.query<TypeRow>(`SELECT * FROM notification_types WHERE app_id = $1 ORDER BY key`, [appId]);
  return rows;
}

export async function deleteType(db: Queryable, appId: string, key: string): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM notification_types WHERE app_id = $1 AND key = $2`, [appId, key]);
  return rowCount === 1;
}

export const ruleOf = (t: TypeRow & { digest_choices?: boolean }): TypeRule => ({ key: t.key, required: t.required, channels: t.channels, ...(t.digest_choices ? { digestChoices: true } : {}) });
