import type { Queryable } from '../db/pool.ts';
import type { Platform } from '../core/notification.ts';

/** The devices table: every query on it lives here. */
export type { Platform };

export interface WebSubscription {
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
}

export interface Device {
  readonly id: string;
  readonly userId: string;
  readonly appId: string;
  readonly platform: Platform;
  readonly token: string;
  readonly subscription: WebSubscription | null;
  readonly name: string | null;
  readonly environment: string | null;
  readonly status: 'active' | 'invalid';
  readonly invalidReason: string | null;
  readonly invalidatedAt: Date | null;
  readonly registeredAt: Date;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface NewDevice {
  readonly id: string;
  readonly userId: string;
  readonly appId: string;
  readonly platform: Platform;
  readonly token: string;
  readonly subscription: WebSubscription | null;
  readonly name: string | null;
  readonly environment: string | null;
}

interface DeviceRecord {
  id: string;
  user_id: string;
  app_id: string;
  platform: Platform;
  token: string;
  subscription: WebSubscription | null;
  name: string | null;
  environment: string | null;
  status: 'active' | 'invalid';
  invalid_reason: string | null;
  invalidated_at: Date | null;
  registered_at: Date;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `id, user_id, app_id, platform, token, subscription, name, environment, status, invalid_reason,
  invalidated_at, registered_at, created_at, updated_at`;

function toDevice(r: DeviceRecord): Device {
  return {
    id: r.id,
    userId: r.user_id,
    appId: r.app_id,
    platform: r.platform,
    token: r.token,
    subscription: r.subscription,
    name: r.name,
    environment: r.environment,
    status: r.status,
    invalidReason: r.invalid_reason,
    invalidatedAt: r.invalidated_at,
    registeredAt: r.registered_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** The device holding this token for this app and platform, locked for the transaction. */
export async function lockDeviceByToken(db: Queryable, appId: string, platform: Platform, token: string): Promise<Device | undefined> {
  const { rows } = await db.query<DeviceRecord>(
    `SELECT ${COLUMNS} FROM devices WHERE app_id = $1 AND platform = $2 AND token = $3 FOR UPDATE`,
    [appId, platform, token],
  );
  return rows[0] ? toDevice(rows[0]) : undefined;
}

/** Insert unless the token is already registered (a concurrent registration won): then undefined. */
export async function insertDevice(db: Queryable, d: NewDevice): Promise<Device | undefined> {
  const { rows } = await db.query<DeviceRecord>(
    `INSERT INTO devices (id, user_id, app_id, platform, token, subscription, name, environment)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
     ON CONFLICT (app_id, platform, token) DO NOTHING
     RETURNING ${COLUMNS}`,
    [d.id, d.userId, d.appId, d.platform, d.token, d.subscription ? JSON.stringify(d.subscription) : null, d.name, d.environment],
  );
  return rows[0] ? toDevice(rows[0]) : undefined;
}

/** Re-registration: (re)assign to `userId`, refresh the details the caller sent, mark active again. */
export async function reRegisterDevice(
  db: Queryable,
  id: string,
  userId: string,
  fields: { subscription: WebSubscription | null; name: string | null; environment: string | null },
): Promise<Device> {
  const { rows } = await db.query<DeviceRecord>(
    `UPDATE devices SET user_id = $2, subscription = COALESCE($3::jsonb, subscription), name = COALESCE($4, name),
       environment = COALESCE($5, environment), status = 'active', invalid_reason = NULL, invalidated_at = NULL,
       registered_at = now(), updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, userId, fields.subscription ? JSON.stringify(fields.subscription) : null, fields.name, fields.environment],
  );
  return toDevice(rows[0]!);
}

export async function listDevices(db: Queryable, userId: string): Promise<Device[]> {
  const { rows } = await db.query<DeviceRecord>(`SELECT ${COLUMNS} FROM devices WHERE user_id = $1 ORDER BY created_at, id`, [userId]);
  return rows.map(toDevice);
}

/** Deletes the user's device; false when the user has no such device. */
export async function deleteDevice(db: Queryable, userId: string, id: string): Promise<Device | undefined> {
  const { rows } = await db.query<DeviceRecord>(`DELETE FROM devices WHERE id = $1 AND user_id = $2 RETURNING ${COLUMNS}`, [id, userId]);
  return rows[0] ? toDevice(rows[0]) : undefined;
}
