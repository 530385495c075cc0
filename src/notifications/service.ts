import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { Pool, PoolClient, Queryable } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { uuidv7 } from '../db/ids.ts';
import { HeraldError, notFound } from '../errors/index.ts';
import { appendEvent, appendEvents } from '../events/outbox.ts';
import { notifyDeliveriesDue } from '../dispatch/wakeup.ts';
import type { NotificationInput, CreateOptions, CreatedNotification, NotificationCreator } from './types.ts';
import { NotificationBody } from './schema.ts';
import * as store from './store.ts';
import { notificationStatus } from './status.ts';
import { OutboundPolicy, refuseUnlessAllowed } from '../outbound/index.ts';
import { pinTemplates, type PinMemo, type PinnedSend } from '../templates/pin.ts';

const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false, removeAdditional: false });
(addFormats as unknown as (a: Ajv) => void)(ajv);
const validateBody = ajv.compile(NotificationBody);

/** Validate an untrusted body (broker ingest) exactly as the API does. */
export function parseNotificationInput(raw: unknown): NotificationInput {
  if (!validateBody(raw)) {
    const e = validateBody.errors?.[0];
    const field = `body${(e?.instancePath ?? '').replace(/\//g, '.')}`;
    throw new HeraldError('VALIDATION_FAILED', `${field}: ${e?.message ?? 'is not valid'}`, validateBody.errors?.map((x) => ({ field: `body${x.instancePath.replace(/\//g, '.')}`, message: x.message })));
  }
  return raw as NotificationInput;
}

const DEFAULT_CHANNELS = ['push', 'inbox'] as const;
const HEX_TOKEN = /^[0-9a-fA-F]{64,200}$/;

function rawDeviceProvider(input: NotificationInput): string | undefined {
  if (!('device' in input.to)) return undefined;
  const d = input.to.device;
  const channels = input.channels ?? ['push'];
  if (channels.some((c) => c !== 'push')) {
    throw new HeraldError('UNPROCESSABLE', 'A notification to a raw device can only use the push channel.');
  }
  if (d.platform === 'ios') {
    if (!d.token || !HEX_TOKEN.test(d.token)) throw new HeraldError('VALIDATION_FAILED', 'to.device.token: an APNs token is 64 or more hex digits', [{ field: 'body.to.device.token', message: 'must be hex' }]);
    return 'apns';
  }
  if (d.platform === 'android') {
    if (!d.token) throw new HeraldError('VALIDATION_FAILED', 'to.device.token is required for android', [{ field: 'body.to.device.token', message: 'is required' }]);
    return 'fcm';
  }
  if (!d.subscription) throw new HeraldError('VALIDATION_FAILED', 'to.device.subscription is required for web', [{ field: 'body.to.device.subscription', message: 'is required' }]);
  return 'webpush';
}

function contentOf(input: NotificationInput): Record<string, unknown> {
  const { to, appId: _appId, channels: _channels, sendAt: _sendAt, ...content } = input;
  // The raw device target travels with the content: the worker needs its token.
  return 'device' in to ? { ...content, to } : content;
}

function toRow(input: NotificationInput, options: CreateInTxOptions, now: Date, provider: string | undefined, pinned: PinnedSend): store.NewNotificationRow {
  let sendAt = input.sendAt ? new Date(input.sendAt) : now;
  if (Number.isNaN(sendAt.getTime())) throw new HeraldError('VALIDATION_FAILED', 'sendAt: must be an RFC 3339 date-time', [{ field: 'body.sendAt', message: 'must be date-time' }]);
  if (sendAt < now) sendAt = now;
  const ttl = input.ttlSeconds ?? null;
  const expiresAt = options.expiresAt ?? (ttl !== null ? new Date(sendAt.getTime() + ttl * 1000) : null);
  const userIds = 'userId' in input.to ? [input.to.userId] : 'userIds' in input.to ? [...input.to.userIds] : [];
  return {
    id: uuidv7(now.getTime()),
    appId: input.appId ?? 'default',
    targetApp: input.appId ?? null,
    userIds,
    reminderId: options.reminderId ?? null,
    channels: provider ? ['push'] : [...(input.channels ?? DEFAULT_CHANNELS)],
    // A template is stored pinned: its exact version and the checked data (src/templates/pin.ts).
    payload: { ...contentOf(input), ...pinned },
    sendAt,
    ttlSeconds: ttl,
    expiresAt,
    source: options.source,
    dedupeKey: options.dedupeKey ?? null,
  };
}

export interface CreateInTxOptions extends CreateOptions {
  readonly reminderId?: string;
  readonly now?: Date;
}

/**
 * Create a notification and its deliveries inside the caller's transaction (reminders use this
 * from their own transaction). Returns undefined when the dedupe key was used before.
 */
export async function createInTransaction(client: PoolClient | Queryable, input: NotificationInput, options: CreateInTxOptions): Promise<CreatedNotification> {
  const now = options.now ?? new Date();
  const provider = rawDeviceProvider(input);
  const pinned = await pinTemplates(client, input, provider ? ['push'] : DEFAULT_CHANNELS);
  const row = toRow(input, options, now, provider, pinned);
  const { sendAt, userIds } = row;
  if (!(await store.insertNotification(client, row))) {
    const existing = await store.findByDedupeKey(client, options.dedupeKey!);
    return { id: existing!.id, status: 'duplicate', sendAt: existing!.send_at.toISOString(), created: false };
  }
  let deliveries: number;
  if (provider) {
    deliveries = await store.fanOutRawDevice(client, row, provider);
  } else {
    await store.ensureUsers(client, userIds);
    deliveries = await store.fanOutUsers(client, row);
  }
  const eventData = { sendAt: sendAt.toISOString(), channels: row.channels, source: options.source, deliveries };
  if (userIds.length <= 1) {
    await appendEvent(client, { userId: userIds[0] ?? null, type: 'notification:created', itemType: 'notification', itemId: row.id, data: eventData });
  } else {
    await appendEvents(client, userIds.map((u) => ({ userId: u, type: 'notification:created', itemType: 'notification', itemId: row.id, data: eventData })));
  }
  if (deliveries > 0) await notifyDeliveriesDue(client, sendAt);
  return { id: row.id, status: sendAt > now ? 'scheduled' : 'pending', sendAt: sendAt.toISOString(), created: true };
}

/** A notification with its deliveries and the status they add up to (status.ts). */
export interface NotificationRecord {
  readonly notification: store.NotificationRow;
  readonly deliveries: readonly store.DeliveryRow[];
  readonly status: string;
}

export interface NotificationPage {
  readonly items: NotificationRecord[];
  readonly total: number;
  readonly limit: number;
  readonly offset: number;
}

export class NotificationService implements NotificationCreator {
  readonly #pool: Pool;
  readonly #outbound: OutboundPolicy;
  /** `outbound`: where a raw `to.device` Web Push endpoint may point (default: no exceptions). */
  constructor(pool: Pool, outbound: OutboundPolicy = new OutboundPolicy()) {
    this.#pool = pool;
    this.#outbound = outbound;
  }

  #checkTarget(input: NotificationInput): void {
    const endpoint = 'device' in input.to ? input.to.device.subscription?.endpoint : undefined;
    if (endpoint !== undefined) refuseUnlessAllowed(this.#outbound, endpoint, 'body.to.device.subscription.endpoint');
  }

  create(input: NotificationInput, options: CreateOptions): Promise<CreatedNotification> {
    this.#checkTarget(input);
    return withTransaction(this.#pool, (client) => createInTransaction(client, input, options));
  }

  /**
   * Many notifications in one transaction (bulk loads, benchmarks). User-addressed ones go in
   * with a few set-based statements; raw-device and deduplicated ones one by one.
   */
  createMany(inputs: readonly NotificationInput[], options: CreateOptions): Promise<CreatedNotification[]> {
    for (const input of inputs) this.#checkTarget(input);
    return withTransaction(this.#pool, async (client) => {
      const now = new Date();
      const out: CreatedNotification[] = [];
      const bulk: store.NewNotificationRow[] = [];
      const users = new Set<string>();
      let earliest: Date | undefined;
      const memo: PinMemo = new Map();
      for (const input of inputs) {
        if ('device' in input.to || options.dedupeKey) {
          out.push(await createInTransaction(client, input, options));
          continue;
        }
        const row = toRow(input, options, now, undefined, await pinTemplates(client, input, DEFAULT_CHANNELS, memo));
        for (const u of row.userIds) users.add(u);
        bulk.push(row);
        if (!earliest || row.sendAt < earliest) earliest = row.sendAt;
        out.push({ id: row.id, status: row.sendAt > now ? 'scheduled' : 'pending', sendAt: row.sendAt.toISOString(), created: true });
      }
      await store.ensureUsers(client, [...users]);
      for (let i = 0; i < bulk.length; i += 5000) await store.insertBulk(client, bulk.slice(i, i + 5000));
      if (earliest) await notifyDeliveriesDue(client, earliest);
      return out;
    });
  }

  /** One notification; `forUser`: as that user has it (404 unless a recipient; only their deliveries). */
  async get(id: string, forUser?: string): Promise<NotificationRecord> {
    const n = await store.getNotification(this.#pool, id);
    if (!n || (forUser !== undefined && !n.user_ids.includes(forUser))) throw notFound('notification', id);
    const deliveries = await store.getDeliveries(this.#pool, [id], forUser);
    return { notification: n, deliveries, status: notificationStatus(n, deliveries) };
  }

  /** The user's notifications, newest first, each with that user's deliveries. */
  async listForUser(userId: string, limit: number, offset: number): Promise<NotificationPage> {
    const { rows, total } = await store.listForUser(this.#pool, userId, limit, offset);
    const deliveries = await store.getDeliveries(this.#pool, rows.map((r) => r.id), userId);
    const items = rows.map((n) => {
      const own = deliveries.filter((d) => d.notification_id === n.id);
      return { notification: n, deliveries: own, status: notificationStatus(n, own) };
    });
    return { items, total, limit, offset };
  }

  /** Cancel before anything was sent (204); 409 once a delivery was sent or is being sent. */
  async cancel(id: string): Promise<void> {
    await withTransaction(this.#pool, async (client) => {
      const { rows } = await client.query<{ user_ids: string[]; cancelled_at: Date | null }>(
        `SELECT user_ids, cancelled_at FROM notifications WHERE id = $1 FOR UPDATE`,
        [id],
      );
      const n = rows[0];
      if (!n) throw notFound('notification', id);
      if (n.cancelled_at) return;
      const { rows: started } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM deliveries WHERE notification_id = $1 AND status IN ('sending', 'sent')`,
        [id],
      );
      if ((started[0]?.n ?? 0) > 0) throw new HeraldError('CONFLICT', 'Deliveries of this notification were already sent; it can no longer be cancelled.');
      await client.query(`UPDATE notifications SET cancelled_at = now() WHERE id = $1`, [id]);
      await store.cancelPendingWhere(client, 'notification', id);
      const users = n.user_ids.length ? n.user_ids : [null];
      await appendEvents(client, users.map((u) => ({ userId: u, type: 'notification:cancelled', itemType: 'notification', itemId: id })));
    });
  }

  /** Re-drive failed deliveries (dead letter) of a notification: they are due again now. */
  async retry(id: string, includeExpired = false): Promise<{ redriven: number }> {
    return withTransaction(this.#pool, async (client) => {
      const n = await store.getNotification(client, id);
      if (!n) throw notFound('notification', id);
      if (n.cancelled_at) throw new HeraldError('CONFLICT', 'The notification was cancelled.');
      const rows = await store.redrive(client, id, includeExpired);
      if (rows.length > 0) {
        const users = [...new Set(rows.map((r) => r.user_id))];
        await appendEvents(client, users.map((u) => ({ userId: u, type: 'notification:retried', itemType: 'notification', itemId: id, data: { deliveries: rows.length } })));
        await notifyDeliveriesDue(client, new Date());
      }
      return { redriven: rows.length };
    });
  }
}
