import type { Queryable } from '../db/pool.ts';
import type { TemplateDefinition } from './types.ts';

/**
 * The templates and template_versions tables: every query on them lives here. A key's row holds
 * its latest version number and whether it was deleted; versions are immutable and kept for good,
 * so a notification pinned to one renders it whatever happens to the key later.
 */

export interface VersionRow {
  readonly version: number;
  readonly definition: TemplateDefinition;
  readonly createdAt: Date;
}

export interface KeyRow {
  readonly key: string;
  readonly latestVersion: number;
  readonly definition: TemplateDefinition;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * Save a definition as the key's next version, unless it equals the latest (a repeated PUT is
 * not a change). The key's row is locked first, so concurrent PUTs number their versions in turn.
 */
export async function saveVersion(db: Queryable, appId: string, key: string, definition: TemplateDefinition): Promise<{ version: number; created: boolean; changed: boolean; at: Date }> {
  await db.query(`INSERT INTO templates (app_id, key, latest_version) VALUES ($1, $2, 0) ON CONFLICT (app_id, key) DO NOTHING`, [appId, key]);
  const { rows } = await db.query<{ latest_version: number; deleted: boolean; same: boolean | null; created_at: Date | null }>(
    `SELECT t.latest_version, t.deleted_at IS NOT NULL AS deleted, v.definition = $3::jsonb AS same, v.created_at
       FROM templates t LEFT JOIN template_versions v ON v.app_id = t.app_id AND v.key = t.key AND v.version = t.latest_version
      WHERE t.app_id = $1 AND t.key = $2 FOR UPDATE OF t`,
    [appId, key, JSON.stringify(definition)],
  );
  const row = rows[0]!;
  const live = row.latest_version > 0 && !row.deleted;
  if (live && row.same) return { version: row.latest_version, created: false, changed: false, at: row.created_at! };
  const version = row.latest_version + 1;
  const { rows: saved } = await db.query<{ created_at: Date }>(
    `INSERT INTO template_versions (app_id, key, version, definition) VALUES ($1, $2, $3, $4::jsonb) RETURNING created_at`,
    [appId, key, version, JSON.stringify(definition)],
  );
  await db.query(`UPDATE templates SET latest_version = $3, deleted_at = NULL, updated_at = now() WHERE app_id = $1 AND key = $2`, [appId, key, version]);
  return { version, created: !live, changed: true, at: saved[0]!.created_at };
}

/** The latest version of a key that is not deleted. */
export async function findLatest(db: Queryable, appId: string, key: string): Promise<KeyRow | undefined> {
  const { rows } = await db.query<{ key: string; latest_version: number; definition: TemplateDefinition; created_at: Date; updated_at: Date }>(
    `SELECT t.key, t.latest_version, v.definition, t.created_at, t.updated_at
       FROM templates t JOIN template_versions v ON v.app_id = t.app_id AND v.key = t.key AND v.version = t.latest_version
      WHERE t.app_id = $1 AND t.key = $2 AND t.deleted_at IS NULL`,
    [appId, key],
  );
  const r = rows[0];
  return r ? { key: r.key, latestVersion: r.latest_version, definition: r.definition, createdAt: r.created_at, updatedAt: r.updated_at } : undefined;
}

/** One version, deleted key or not (pinned notifications and the versions route read these). */
export async function findVersion(db: Queryable, appId: string, key: string, version: number): Promise<VersionRow | undefined> {
  const { rows } = await db.query<{ version: number; definition: TemplateDefinition; created_at: Date }>(
    `SELECT version, definition, created_at FROM template_versions WHERE app_id = $1 AND key = $2 AND version = $3`,
    [appId, key, version],
  );
  const r = rows[0];
  return r ? { version: r.version, definition: r.definition, createdAt: r.created_at } : undefined;
}

/**
 * What a send needs to pin and check a template, without its (possibly large) messages: the
 * version (the latest live one when none is named), its variables and the channels its default
 * locale covers.
 */
export async function findForSend(db: Queryable, appId: string, key: string, version: number | undefined): Promise<{ version: number; variables: TemplateDefinition['variables']; channels: string[] } | undefined> {
  const { rows } = await db.query<{ version: number; variables: TemplateDefinition['variables']; channels: string[] | null }>(
    `SELECT v.version, v.definition -> 'variables' AS variables,
            ARRAY(SELECT jsonb_object_keys(v.definition -> 'locales' -> (v.definition ->> 'defaultLocale'))) AS channels
       FROM template_versions v
      WHERE v.app_id = $1 AND v.key = $2
        AND v.version = COALESCE($3::int, (SELECT latest_version FROM templates WHERE app_id = $1 AND key = $2 AND deleted_at IS NULL))`,
    [appId, key, version ?? null],
  );
  const r = rows[0];
  return r ? { version: r.version, variables: r.variables, channels: r.channels ?? [] } : undefined;
}

/** The latest live version number of a key (0 when the app has none, or deleted its own). */
export async function latestVersion(db: Queryable, appId: string, key: string): Promise<number> {
  const { rows } = await db.query<{ latest_version: number }>(
    `SELECT latest_version FROM templates WHERE app_id = $1 AND key = $2 AND deleted_at IS NULL`,
    [appId, key],
  );
  return rows[0]?.latest_version ?? 0;
}

export async function listVersions(db: Queryable, appId: string, key: string): Promise<Array<{ version: number; createdAt: Date }>> {
  const { rows } = await db.query<{ version: number; created_at: Date }>(
    `SELECT version, created_at FROM template_versions WHERE app_id = $1 AND key = $2 ORDER BY version DESC`,
    [appId, key],
  );
  return rows.map((r) => ({ version: r.version, createdAt: r.created_at }));
}

/** Every live key of an app with its latest definition, by key. */
export async function listLatest(db: Queryable, appId: string): Promise<KeyRow[]> {
  const { rows } = await db.query<{ key: string; latest_version: number; definition: TemplateDefinition; created_at: Date; updated_at: Date }>(
    `SELECT t.key, t.latest_version, v.definition, t.created_at, t.updated_at
       FROM templates t JOIN template_versions v ON v.app_id = t.app_id AND v.key = t.key AND v.version = t.latest_version
      WHERE t.app_id = $1 AND t.deleted_at IS NULL ORDER BY t.key`,
    [appId],
  );
  return rows.map((r) => ({ key: r.key, latestVersion: r.latest_version, definition: r.definition, createdAt: r.created_at, updatedAt: r.updated_at }));
}

/** Mark a key deleted (its versions stay); false when there was no live key. */
export async function markDeleted(db: Queryable, appId: string, key: string): Promise<number | undefined> {
  const { rows } = await db.query<{ latest_version: number }>(
    `UPDATE templates SET deleted_at = now(), updated_at = now()
      WHERE app_id = $1 AND key = $2 AND deleted_at IS NULL AND latest_version > 0 RETURNING latest_version`,
    [appId, key],
  );
  return rows[0]?.latest_version;
}
