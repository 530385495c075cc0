import type { Pool, Queryable } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { HeraldError, notFound } from '../errors/index.ts';
import { appendEvent } from '../events/outbox.ts';
import * as types from './types-repository.ts';
import { appExists } from '../apps/repository.ts';
import { parseDuration } from '../core/duration.ts';
import { unsubscribe, type UnsubscribeLinks } from './unsubscribe.ts';

export const PREFERENCE_CHANNELS = ['push', 'email', 'inbox', 'webhook'] as const;
export type PreferenceChannel = (typeof PREFERENCE_CHANNELS)[number];
type Switches = Partial<Record<PreferenceChannel, boolean>>;

export interface TypeInput {
  readonly name?: string | null | undefined;
  readonly description?: string | null | undefined;
  readonly required?: boolean | undefined;
  readonly channels?: Switches | undefined;
  /** At most `max` deliveries of the type per user within `per` (docs/timing.md); null: no cap. */
  readonly cap?: CapInput | null | undefined;
}

export interface CapInput {
  readonly max: number;
  readonly per: string;
  readonly action?: 'defer' | 'drop' | undefined;
  readonly channel?: PreferenceChannel | undefined;
}

export interface CapView {
  readonly max: number;
  readonly per: string;
  readonly action: 'defer' | 'drop';
  readonly channel?: string;
}

export interface NotificationType {
  readonly key: string;
  readonly appId: string;
  readonly name: string | null;
  readonly description: string | null;
  readonly required: boolean;
  readonly channels: Switches;
  readonly cap: CapView | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export type Source = 'default' | 'user' | 'required';
/** A digest a user chose for a type (docs/timing.md): hourly, or daily at a local time. */
export interface DigestChoice {
  readonly cadence: 'hourly' | 'daily';
  readonly at?: string;
}

export interface PreferenceView {
  readonly appId: string;
  readonly channels: Record<PreferenceChannel, boolean>;
  readonly types: Array<{ key: string; name: string | null; description: string | null; required: boolean; channels: Record<PreferenceChannel, { enabled: boolean; source: Source }>; digest: DigestChoice | null }>;
}

/** One type's changes: channel switches (null: back to the default) and the digest cadence (null: none). */
export type TypeChoicePatch = Partial<Record<PreferenceChannel, boolean | null>> & { readonly digest?: 'hourly' | 'daily' | null; readonly at?: string };

export interface PreferencePatch {
  readonly channels?: Switches | undefined;
  readonly types?: Readonly<Record<string, TypeChoicePatch>> | undefined;
}

const isChannel = (name: string): name is PreferenceChannel => (PREFERENCE_CHANNELS as readonly string[]).includes(name);

const typeView = (r: types.TypeRow): NotificationType => ({
  key: r.key,
  appId: r.app_id,
  name: r.name,
  description: r.description,
  required: r.required,
  channels: r.channels,
  cap: r.cap ? { max: r.cap.max, per: r.cap.per, action: r.cap.action, ...(r.cap.channel ? { channel: r.cap.channel } : {}) } : null,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/**
 * One channel of one type for one user: the same decision the fan-out makes in SQL
 * (herald_wants, migrations/0300_audiences.sql), with the reason. A required type follows its
 * defaults whatever the user chose; otherwise a channel switched off for every type wins, then
 * the user's choice for the type, then the type's default (absent: on).
 */
export function effective(type: Pick<types.TypeRow, 'required' | 'channels'>, global: Switches, chosen: Switches, channel: PreferenceChannel): { enabled: boolean; source: Source } {
  const byDefault = type.channels[channel] ?? true;
  if (type.required) return { enabled: byDefault, source: 'required' };
  if (chosen[channel] !== undefined) return { enabled: chosen[channel]! && global[channel] !== false, source: 'user' };
  if (global[channel] === false) return { enabled: false, source: 'user' };
  return { enabled: byDefault, source: 'default' };
}

/**
 * Notification types of an app and each user's preferences by type and channel (docs/audiences.md).
 * Changes record `notification-type:*` (no user) and `preferences:updated` events in their transaction.
 */
export class PreferenceService {
  readonly #pool: Pool;
  readonly #links: UnsubscribeLinks;
  constructor(pool: Pool, links: UnsubscribeLinks) {
    this.#pool = pool;
    this.#links = links;
  }

  /** A one-click unsubscribe link used (404 for a tampered, expired or used one). */
  unsubscribe(token: string): Promise<{ appId: string; type: string }> {
    return unsubscribe(this.#pool, this.#links, token);
  }

  async putType(appId: string, key: string, input: TypeInput): Promise<NotificationType> {
    const perMs = input.cap ? parseDuration(input.cap.per) : undefined;
    if (input.cap && !perMs) throw new HeraldError('VALIDATION_FAILED', 'cap.per: must be more than zero and at most a year', [{ field: 'body.cap.per', message: 'must be more than zero and at most a year' }]);
    return withTransaction(this.#pool, async (client) => {
      // The app in the path must exist, as for its templates: 404 otherwise.
      if (appId !== 'default' && !(await appExists(client, appId))) throw notFound('app', appId);
      const { row, created } = await types.upsertType(client, appId, key, {
        name: input.name ?? null,
        description: input.description ?? null,
        required: input.required ?? false,
        channels: { ...input.channels },
        cap: input.cap ? { max: input.cap.max, per: input.cap.per, perSeconds: perMs! / 1000, action: input.cap.action ?? 'defer', ...(input.cap.channel ? { channel: input.cap.channel } : {}) } : null,
      });
      await appendEvent(client, { userId: null, type: created ? 'notification-type:created' : 'notification-type:updated', itemType: 'notification-type', itemId: `${appId}/${key}`, data: { appId, key, required: row.required, channels: row.channels, ...(row.cap ? { cap: typeView(row).cap } : {}) } });
      return typeView(row);
    });
  }

  async getType(appId: string, key: string): Promise<NotificationType> {
    const row = await types.getType(this.#pool, appId, key);
    if (!row) throw notFound('notification type', key);
    return typeView(row);
  }

  async listTypes(appId: string): Promise<NotificationType[]> {
    return (await types.listTypes(this.#pool, appId)).map(typeView);
  }

  /** Delete a type and every user's choices for it; queued notifications keep the rule they were created with. */
  async deleteType(appId: string, key: string): Promise<void> {
    await withTransaction(this.#pool, async (client) => {
      if (!(await types.deleteType(client, appId, key))) throw notFound('notification type', key);
      await appendEvent(client, { userId: null, type: 'notification-type:deleted', itemType: 'notification-type', itemId: `${appId}/${key}`, data: { appId, key } });
    });
  }

  /** `mustExist`: 404 for an unknown user (API-key routes); an end user without a profile sees the defaults. */
  async get(appId: string, userId: string, mustExist: boolean): Promise<PreferenceView> {
    return this.#view(this.#pool, appId, userId, mustExist);
  }

  async #view(db: Queryable, appId: string, userId: string, mustExist: boolean): Promise<PreferenceView> {
    // One after another: `db` may be a transaction's client, which runs one query at a time.
    const user = await db.query<{ preferences: { channels?: Switches } }>(`SELECT preferences FROM users WHERE id = $1`, [userId]);
    const typeRows = await types.listTypes(db, appId);
    const chosenRows = await db.query<{ type_key: string; channels: Switches; digest: DigestChoice | null }>(`SELECT type_key, channels, digest FROM user_type_preferences WHERE app_id = $1 AND user_id = $2`, [appId, userId]);
    if (mustExist && user.rowCount === 0) throw notFound('user', userId);
    const global: Switches = user.rows[0]?.preferences.channels ?? {};
    const chosen = new Map(chosenRows.rows.map((r) => [r.type_key, r.channels]));
    const digests = new Map(chosenRows.rows.map((r) => [r.type_key, r.digest]));
    const channels = Object.fromEntries(PREFERENCE_CHANNELS.map((c) => [c, global[c] !== false])) as Record<PreferenceChannel, boolean>;
    return {
      appId,
      channels,
      types: typeRows.map((t) => ({
        key: t.key,
        name: t.name,
        description: t.description,
        required: t.required,
        channels: Object.fromEntries(PREFERENCE_CHANNELS.map((c) => [c, effective(t, global, chosen.get(t.key) ?? {}, c)])) as Record<PreferenceChannel, { enabled: boolean; source: Source }>,
        digest: t.required ? null : (digests.get(t.key) ?? null),
      })),
    };
  }

  /**
   * Change a user's switches: `channels` for every type, `types.<key>.<channel>` for one type
   * (null: back to the type's default). Unknown types (422 UNKNOWN_TYPE) and switching off a
   * required type (422 TYPE_REQUIRED) change nothing.
   */
  async patch(appId: string, userId: string, patch: PreferencePatch, options: { mustExist: boolean; via?: string }): Promise<PreferenceView> {
    return withTransaction(this.#pool, async (client) => {
      if (options.mustExist) {
        const { rowCount } = await client.query(`SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, [userId]);
        if (!rowCount) throw notFound('user', userId);
      } else {
        await client.query(`INSERT INTO users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, [userId]);
      }
      const typeChanges = Object.entries(patch.types ?? {});
      const known = new Map((await types.listTypes(client, appId)).map((t) => [t.key, t]));
      const unknown = typeChanges.filter(([key]) => !known.has(key)).map(([key]) => key);
      if (unknown.length > 0) throw new HeraldError('UNKNOWN_TYPE', `app "${appId}" has no notification type ${unknown.map((k) => `"${k}"`).join(', ')}`, unknown.map((k) => ({ field: `body.types.${k}`, message: 'no such notification type' })));
      const refused = typeChanges.flatMap(([key, sw]) => (known.get(key)!.required ? Object.entries(sw).filter(([c, v]) => v === false || (c === 'digest' && v !== null)).map(([c]) => `${key}.${c}`) : []));
      if (refused.length > 0) throw new HeraldError('TYPE_REQUIRED', `required notification types cannot be switched off: ${refused.join(', ')}`, refused.map((f) => ({ field: `body.types.${f}`, message: 'the type is required' })));
      if (patch.channels && Object.keys(patch.channels).length > 0) {
        await client.query(
          `UPDATE users SET preferences = jsonb_set(preferences, '{channels}', COALESCE(preferences -> 'channels', '{}'::jsonb) || $2::jsonb), updated_at = now() WHERE id = $1`,
          [userId, JSON.stringify(patch.channels)],
        );
      }
      const lonelyAt = typeChanges.filter(([, sw]) => sw.at !== undefined && sw.digest !== 'daily').map(([key]) => key);
      if (lonelyAt.length > 0) throw new HeraldError('UNPROCESSABLE', '`at` is the local time of a daily digest: send it with "digest": "daily"', lonelyAt.map((k) => ({ field: `body.types.${k}.at`, message: 'needs "digest": "daily"' })));
      for (const [key, sw] of typeChanges) {
        const switches = Object.entries(sw).filter(([c]) => isChannel(c));
        const set = Object.fromEntries(switches.filter(([, v]) => v !== null));
        const unset = switches.filter(([, v]) => v === null).map(([c]) => c);
        // The digest choice (docs/timing.md): absent leaves it, null removes it.
        const digest = sw.digest === undefined ? undefined : sw.digest === null ? null : sw.digest === 'daily' ? { cadence: 'daily', at: sw.at ?? '09:00' } : { cadence: 'hourly' };
        await client.query(
          `INSERT INTO user_type_preferences (app_id, user_id, type_key, channels, digest) VALUES ($1, $2, $3, $4::jsonb - $5::text[], $7::jsonb)
           ON CONFLICT (app_id, user_id, type_key) DO UPDATE SET channels = (user_type_preferences.channels || $4::jsonb) - $5::text[],
                  digest = CASE WHEN $6 THEN $7::jsonb ELSE user_type_preferences.digest END, updated_at = now()`,
          [appId, userId, key, JSON.stringify(set), unset, digest !== undefined, digest ? JSON.stringify(digest) : null],
        );
      }
      await appendEvent(client, { userId, type: 'preferences:updated', itemType: 'preferences', itemId: `${appId}/${userId}`, data: { appId, ...(patch.channels ? { channels: patch.channels } : {}), ...(patch.types ? { types: patch.types } : {}), ...(options.via ? { via: options.via } : {}) } });
      return this.#view(client, appId, userId, false);
    });
  }
}
