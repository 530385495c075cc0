import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { Pool, PoolClient, Queryable } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { uuidv7 } from '../db/ids.ts';
import { HeraldError, notFound } from '../errors/index.ts';
import { appendEvent, appendEvents } from '../events/outbox.ts';
import { AfterCommit, WakeupCoalescer, notifyDeliveriesDue } from '../db/wakeup.ts';
import type { Wakeups } from '../core/hooks.ts';
import type { NotificationInput, CreateOptions, CreatedNotification, NotificationCreator, BatchItemResult } from './types.ts';
import { NotificationBody } from './schema.ts';
import * as store from './repository.ts';
import { countDeliveries, notificationStatus, statusFromCounts, type DeliveryCounts } from './status.ts';
import { decodeCursor, page } from '../db/cursor.ts';
import { OutboundPolicy, refuseUnlessAllowed } from '../outbound/index.ts';
import { pinTemplates, type PinMemo, type PinnedSend } from '../templates/pin.ts';
import { getType, ruleOf, type TypeRule } from '../preferences/types-repository.ts';
import * as broadcasts from './broadcasts.ts';
import * as digests from './digests.ts';
import { parseDuration } from '../core/duration.ts';
import { LOCAL_TIME_FAN_OUT_HEAD_START_MS, parseLocalTime } from './local-time.ts';
import { checkSteps, type StoredStep } from './fallback-steps.ts';
import { insertLaterSteps } from './fallback-repository.ts';
import { InsertGroups } from './insert-groups.ts';
import { appExists } from '../apps/repository.ts';

const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false, removeAdditional: false });
(addFormats as unknown as (a: Ajv) => void)(ajv);
const validateBody = ajv.compile(NotificationBody);

/** Validation errors as the API reports them: the field (a missing or unknown one named) and why. */
function validationDetails(errors: typeof validateBody.errors): Array<{ field: string; message: string }> {
  return (errors ?? []).map((e) => {
    const missing = (e.params as { missingProperty?: string }).missingProperty;
    const extra = (e.params as { additionalProperty?: string }).additionalProperty;
    const base = `body${e.instancePath.replace(/\//g, '.')}`;
    return {
      field: missing ? `${base}.${missing}` : extra ? `${base}.${extra}` : base,
      message: extra ? `unknown field "${extra}"` : (e.message ?? 'is not valid'),
    };
  });
}

/** Validate an untrusted body (broker ingest, batch items) exactly as the API does. */
export function parseNotificationInput(raw: unknown): NotificationInput {
  if (!validateBody(raw)) {
    const details = validationDetails(validateBody.errors);
    const first = details[0];
    throw new HeraldError('VALIDATION_FAILED', first ? `${first.field}: ${first.message}` : 'The request is not valid.', details);
  }
  return raw as NotificationInput;
}

/** A batch item's error as its result; fields are named within the batch (body.items.3.to). */
function itemError(err: unknown, index: number): BatchItemResult {
  if (!(err instanceof HeraldError)) throw err;
  const within = (field: unknown) => (typeof field === 'string' && field.startsWith('body') ? `body.items.${index}${field.slice(4)}` : field);
  const details = Array.isArray(err.details)
    ? err.details.map((d: unknown) => (d && typeof d === 'object' && 'field' in d ? { ...d, field: within((d as { field: unknown }).field) } : d))
    : err.details;
  return { error: details === undefined ? { code: err.code, message: err.message } : { code: err.code, message: err.message, details } };
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
  const { to, appId: _appId, channels: _channels, sendAt: _sendAt, type: _type, steps: _steps, digest: _digest, ...content } = input;
  // The raw device target travels with the content: the worker needs its token.
  return 'device' in to ? { ...content, to } : content;
}

/** A broadcast's audience: a topic's subscribers or every user; undefined for other targets. */
function audienceOf(input: NotificationInput): { kind: broadcasts.AudienceKind; topic: string | null } | undefined {
  if ('topic' in input.to) return { kind: 'topic', topic: input.to.topic };
  if ('all' in input.to) return { kind: 'all', topic: null };
  return undefined;
}

/** The app a notification is sent in: `appId`, or the `to.all.appId` of a broadcast to everyone. */
export function appOf(input: NotificationInput): string | undefined {
  return input.appId ?? ('all' in input.to ? input.to.appId : undefined);
}

/** Notification types already read while preparing a batch, by app and key. */
type TypeMemo = Map<string, ReturnType<typeof getType>>;

/**
 * The notification's type, as a rule fan-out applies; 422 UNKNOWN_TYPE when the app has no such
 * type. `types`: a batch reads each type once (a batch of a thousand items of one type would
 * otherwise read it a thousand times, one round trip each).
 */
async function typeRuleOf(db: Queryable, input: NotificationInput, types?: TypeMemo): Promise<TypeRule | null> {
  if (input.type === undefined) return null;
  const appId = appOf(input) ?? 'default';
  const key = `${appId}\u001f${input.type}`;
  let read = types?.get(key);
  if (!read) {
    read = getType(db, appId, input.type);
    types?.set(key, read);
  }
  const row = await read;
  if (!row) throw new HeraldError('UNKNOWN_TYPE', `app "${appId}" has no notification type "${input.type}"`, [{ field: 'body.type', message: 'no such notification type' }]);
  return ruleOf(row);
}

/** Without `channels`, a type that names channels it sends on decides them; else push + inbox. */
function defaultChannels(rule: TypeRule | null): readonly string[] {
  const on = rule ? Object.entries(rule.channels).filter(([, v]) => v).map(([k]) => k) : [];
  return on.length > 0 ? on : DEFAULT_CHANNELS;
}

/** The fallback chain, checked (422 INVALID_STEPS); undefined without steps. */
function stepsOf(input: NotificationInput): StoredStep[] | undefined {
  const target = 'device' in input.to ? 'device' : audienceOf(input) ? 'broadcast' : 'users';
  return checkSteps({ steps: input.steps, channels: input.channels, target });
}

/** When the first later step of these notifications comes due; undefined when none has steps. */
function laterStepsDue(rows: readonly store.NewNotificationRow[]): Date | undefined {
  let at: number | undefined;
  for (const r of rows) {
    const second = r.steps?.[1];
    if (second) at = Math.min(at ?? Infinity, r.sendAt.getTime() + second.afterMs);
  }
  return at === undefined ? undefined : new Date(at);
}

/**
 * The one-statement insert of `rows` (store.insertBatch), and for rows with a fallback chain
 * the deliveries of their later steps in the same transaction. Returns the deliveries made.
 */
async function insertRows(pool: Pool, client: Queryable | undefined, rows: readonly store.NewBatchRow[]): Promise<number> {
  const stepped = rows.filter((r) => r.steps && r.steps.length > 1);
  if (stepped.length === 0) return store.insertBatch(client ?? pool, rows);
  const run = async (db: Queryable) => (await store.insertBatch(db, rows)) + (await insertLaterSteps(db, stepped));
  return client ? run(client) : withTransaction(pool, run);
}

/** Every channel the notification may send on (templates are pinned for all of them): of every step. */
function allChannels(input: NotificationInput, rule: TypeRule | null, provider: string | undefined): readonly string[] {
  if (provider) return ['push'];
  if (input.steps) return input.steps.flatMap((s) => s.channels);
  return input.channels ?? defaultChannels(rule);
}

function toRow(input: NotificationInput, options: CreateInTxOptions, now: Date, provider: string | undefined, pinned: PinnedSend, rule: TypeRule | null = null): store.NewNotificationRow {
  // A local time: each recipient's due time is worked out in the fan-out; the notification's own
  // send time is the first moment that wall-clock time comes round anywhere.
  const local = typeof input.sendAt === 'object' ? parseLocalTime(input.sendAt.localTime) : null;
  let sendAt = local ? local.earliest : typeof input.sendAt === 'string' ? new Date(input.sendAt) : now;
  if (Number.isNaN(sendAt.getTime())) throw new HeraldError('VALIDATION_FAILED', 'sendAt: must be an RFC 3339 date-time', [{ field: 'body.sendAt', message: 'must be date-time' }]);
  if (sendAt < now) sendAt = now;
  const ttl = input.ttlSeconds ?? null;
  const expiresAt = options.expiresAt ?? (ttl !== null ? new Date(sendAt.getTime() + ttl * 1000) : null);
  const userIds = 'userId' in input.to ? [input.to.userId] : 'userIds' in input.to ? [...input.to.userIds] : [];
  const appId = appOf(input);
  const steps = stepsOf(input);
  return {
    id: uuidv7(now.getTime()),
    appId: appId ?? 'default',
    targetApp: appId ?? null,
    userIds,
    reminderId: options.reminderId ?? null,
    channels: provider ? ['push'] : steps ? [...steps[0]!.channels] : [...(input.channels ?? defaultChannels(rule))],
    // A template is stored pinned: its exact version and the checked data (src/templates/pin.ts).
    // The type travels with the content: the e-mail step needs it for the unsubscribe link.
    payload: { ...contentOf(input), ...pinned, ...(rule ? { type: rule.key, typeRequired: rule.required } : {}) },
    sendAt,
    ttlSeconds: ttl,
    expiresAt,
    source: options.source,
    dedupeKey: options.dedupeKey ?? null,
    type: rule?.key ?? null,
    typeRule: rule ? { required: rule.required, channels: rule.channels } : null,
    priority: input.priority ?? null,
    localTime: local?.text ?? null,
    steps: steps ?? null,
  };
}

/**
 * A user- or device-addressed notification checked and made a row for `insertBatch`, exactly as
 * createInTransaction checks it (type rule, templates, target). Broadcasts are not for this.
 */
async function prepareRow(db: Queryable, input: NotificationInput, options: CreateOptions, now: Date, memo?: PinMemo, types?: TypeMemo): Promise<store.NewBatchRow & { collect: boolean }> {
  const provider = rawDeviceProvider(input);
  const rule = await typeRuleOf(db, input, types);
  const pinned = await pinTemplates(db, { ...input, appId: appOf(input) }, allChannels(input, rule, provider), memo);
  return { ...toRow(input, options, now, provider, pinned, rule), provider, collect: digestedByChoice(input, rule) };
}

/**
 * Whether some recipients may want this notification in a digest they chose for its type
 * (docs/timing.md): then it is created in its own transaction, which collects it for them.
 * Required types and critical notifications are never held back.
 */
function digestedByChoice(input: NotificationInput, rule: TypeRule | null): boolean {
  return rule !== null && rule.digestChoices === true && !rule.required && (input.priority as string | undefined) !== 'critical' && input.digest === undefined;
}

/** A digest request checked: to users only, now, with a window over zero (400/422 naming the field). */
function digestWindowOf(input: NotificationInput): number | undefined {
  if (!input.digest) return undefined;
  if (!('userId' in input.to || 'userIds' in input.to)) throw new HeraldError('UNPROCESSABLE', 'digest: only notifications to users (userId, userIds) can be collected into digests', [{ field: 'body.digest', message: 'needs to.userId or to.userIds' }]);
  const sendAt: unknown = input.sendAt;
  if (sendAt !== undefined && (typeof sendAt !== 'string' || new Date(sendAt).getTime() > Date.now())) throw new HeraldError('UNPROCESSABLE', 'digest: a notification is collected when it is created; it cannot also have a future or local-time sendAt', [{ field: 'body.sendAt', message: 'cannot be combined with digest' }]);
  if (input.steps !== undefined) throw new HeraldError('UNPROCESSABLE', 'digest: a digested notification goes out as one digest; it cannot also have fallback steps', [{ field: 'body.steps', message: 'cannot be combined with digest' }]);
  const ms = parseDuration(input.digest.window);
  if (!ms) throw new HeraldError('VALIDATION_FAILED', 'digest.window: must be more than zero and at most a year', [{ field: 'body.digest.window', message: 'must be more than zero and at most a year' }]);
  return ms / 1000;
}

/** A digest's template is checked when its first item is sent: it must exist and take the digest variables. */
async function checkDigestTemplate(db: Queryable, input: NotificationInput, channels: readonly string[]): Promise<void> {
  const t = input.digest?.template;
  if (!t) return;
  const sample = { count: 2, key: input.digest!.key, first: 'first', newest: 'newest', titles: 'first, newest', more: 0 };
  try {
    await pinTemplates(db, { appId: appOf(input), channels, template: { key: t.key, ...(t.version !== undefined ? { version: t.version } : {}), data: sample }, title: 'digest' }, channels);
  } catch (err) {
    if (err instanceof HeraldError) {
      const details = Array.isArray(err.details) ? err.details.map((d: { field?: string }) => ({ ...d, field: typeof d.field === 'string' ? d.field.replace(/^body\.template/, 'body.digest.template') : d.field })) : err.details;
      throw new HeraldError(err.code, `digest.template: ${err.message}`, details);
    }
    throw err;
  }
}

export interface CreateInTxOptions extends CreateOptions {
  readonly reminderId?: string;
  readonly now?: Date;
  /** Where to ask for wake-ups sent after the caller's commit; without it they are NOTIFYed in the transaction. */
  readonly wake?: Wakeups;
  /** The recipients are known to exist (a reminder's user): skip making them. */
  readonly usersExist?: boolean;
}

/**
 * Create a notification and its deliveries inside the caller's transaction (reminders use this
 * from their own transaction). Returns undefined when the dedupe key was used before.
 */
export async function createInTransaction(client: PoolClient | Queryable, input: NotificationInput, options: CreateInTxOptions): Promise<CreatedNotification> {
  const wake = options.wake ?? new AfterCommit();
  const created = await createWaking(client, input, options, wake);
  if (!options.wake) await (wake as AfterCommit).notifyNow(client);
  return created;
}

async function createWaking(client: PoolClient | Queryable, input: NotificationInput, options: CreateInTxOptions, wake: Wakeups): Promise<CreatedNotification> {
  const now = options.now ?? new Date();
  const provider = rawDeviceProvider(input);
  const windowSeconds = digestWindowOf(input);
  const rule = await typeRuleOf(client, input);
  const pinned = await pinTemplates(client, { ...input, appId: appOf(input) }, allChannels(input, rule, provider));
  const row = toRow(input, options, now, provider, pinned, rule);
  if (input.digest) await checkDigestTemplate(client, input, row.channels);
  const { sendAt, userIds } = row;
  const audience = audienceOf(input);
  if (audience?.kind === 'topic') {
    const { rowCount } = await client.query(`SELECT 1 FROM topics WHERE app_id = $1 AND key = $2 FOR KEY SHARE`, [row.appId, audience.topic]);
    if (!rowCount) throw new HeraldError('UNKNOWN_TOPIC', `app "${row.appId}" has no topic "${audience.topic}"`, [{ field: 'body.to.topic', message: 'no such topic' }]);
  }
  if (!(await store.insertNotification(client, row))) {
    const existing = await store.findByDedupeKey(client, options.dedupeKey!);
    return { id: existing!.id, status: 'duplicate', sendAt: existing!.send_at.toISOString(), created: false };
  }
  if (audience) {
    // A broadcast: its deliveries are made in the background, chunk by chunk (src/scheduler/fan-out.ts).
    // With a local time it starts ahead of the first wave, each delivery due at its own time.
    const startAt = row.localTime ? new Date(Math.max(now.getTime(), sendAt.getTime() - LOCAL_TIME_FAN_OUT_HEAD_START_MS)) : sendAt;
    await broadcasts.insertBroadcast(client, { notificationId: row.id, appId: row.appId, kind: audience.kind, topicKey: audience.topic, startAt });
    await appendEvent(client, { userId: null, type: 'notification:created', itemType: 'notification', itemId: row.id, data: { sendAt: sendAt.toISOString(), channels: row.channels, source: options.source, audience: { kind: audience.kind, ...(audience.topic ? { topic: audience.topic } : {}) }, ...(row.type ? { type: row.type } : {}) } });
    wake.broadcastsDue(startAt);
    return { id: row.id, status: sendAt > now ? 'scheduled' : 'pending', sendAt: sendAt.toISOString(), created: true };
  }
  let deliveries: number;
  if (provider) {
    deliveries = await store.fanOutRawDevice(client, row, provider);
  } else {
    if (!options.usersExist) await store.ensureUsers(client, userIds);
    deliveries = await store.fanOutUsers(client, row);
    const later = await insertLaterSteps(client, [row]);
    if (later > 0) wake.deliveriesDue(laterStepsDue([row])!);
  }
  // Digests (docs/timing.md): held deliveries wait for their digest, which the scheduler closes.
  let closesAt: Date | undefined;
  if (input.digest && windowSeconds !== undefined && deliveries > 0) {
    closesAt = await digests.collectIntoDigest(client, row.id, row.appId, input.digest.key, windowSeconds, { channels: row.channels, template: input.digest.template ?? null });
  } else if (deliveries > 0 && digestedByChoice(input, rule) && sendAt <= now) {
    // Only what is due now: a scheduled notification collected today would go out before its time.
    closesAt = await digests.collectByPreference(client, row.id, row.channels);
  }
  if (closesAt) wake.digestsDue(closesAt);
  const eventData = { sendAt: sendAt.toISOString(), channels: row.channels, source: options.source, deliveries, ...(input.digest ? { digest: { key: input.digest.key, window: input.digest.window } } : {}) };
  if (userIds.length <= 1) {
    await appendEvent(client, { userId: userIds[0] ?? null, type: 'notification:created', itemType: 'notification', itemId: row.id, data: eventData });
  } else {
    await appendEvents(client, userIds.map((u) => ({ userId: u, type: 'notification:created', itemType: 'notification', itemId: row.id, data: eventData })));
  }
  if (deliveries > 0) wake.deliveriesDue(sendAt);
  return { id: row.id, status: sendAt > now ? 'scheduled' : 'pending', sendAt: sendAt.toISOString(), created: true };
}

/** A notification with its deliveries and the status they add up to (status.ts). */
export interface NotificationRecord {
  readonly notification: store.NotificationRow;
  readonly deliveries: readonly store.DeliveryRow[];
  readonly status: string;
  /** Deliveries by status (of a broadcast: all of them, though `deliveries` holds the first page). */
  readonly counts?: DeliveryCounts;
  /** A broadcast's audience and fan-out progress (operators only). */
  readonly broadcast?: broadcasts.BroadcastRow;
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
  readonly #wake: WakeupCoalescer;
  /** Single notifications written together while others are being written (insert-groups.ts). */
  readonly #groups: InsertGroups;
  /** Apps found to exist (#checkApp). */
  readonly #knownApps = new Set<string>();
  constructor(pool: Pool, outbound: OutboundPolicy = new OutboundPolicy()) {
    this.#pool = pool;
    this.#outbound = outbound;
    this.#wake = new WakeupCoalescer(pool);
    this.#groups = new InsertGroups(pool);
  }

  /** After commit: fallback steps are due later; a worker wakes for them (the due times are in the table too). */
  #wakeForLaterSteps(rows: readonly store.NewNotificationRow[]): void {
    const at = laterStepsDue(rows);
    if (at) this.#wake.deliveriesDue(at);
  }

  /** After commit: the relay has new events; the workers have deliveries due at `at`. */
  #wakeAfter(deliveries: number, at: Date): void {
    this.#wake.eventsAdded();
    if (deliveries > 0) this.#wake.deliveriesDue(at);
  }

  #checkTarget(input: NotificationInput): void {
    const endpoint = 'device' in input.to ? input.to.device.subscription?.endpoint : undefined;
    if (endpoint !== undefined) refuseUnlessAllowed(this.#outbound, endpoint, 'body.to.device.subscription.endpoint');
  }

  /**
   * 422 UNKNOWN_APP for a notification that names an app herald does not have (`appId`, or a
   * broadcast's `to.appId`), as devices, reminders and topics are refused. Apps are never deleted,
   * so an app once found is remembered: the check costs a round trip once per app and process,
   * and nothing for the default app.
   */
  async #checkApp(input: NotificationInput): Promise<void> {
    const appId = appOf(input);
    if (appId === undefined || appId === 'default' || this.#knownApps.has(appId)) return;
    if (await appExists(this.#pool, appId)) {
      if (this.#knownApps.size < 10_000) this.#knownApps.add(appId);
      return;
    }
    const field = input.appId !== undefined ? 'body.appId' : 'body.to.appId';
    throw new HeraldError('UNKNOWN_APP', `no app "${appId}"`, [{ field, message: 'no such app' }]);
  }

  async create(input: NotificationInput, options: CreateOptions): Promise<CreatedNotification> {
    this.#checkTarget(input);
    await this.#checkApp(input);
    if (options.dedupeKey !== undefined || audienceOf(input) || input.digest) return withTransaction(this.#pool, (client) => createInTransaction(client, input, options));
    // Without a dedupe key, to users or a device: the same checks, then one statement (one round
    // trip, its own transaction).
    const now = new Date();
    const row = await prepareRow(this.#pool, input, options, now);
    // Some recipients chose a digest for its type: created in a transaction that collects it.
    if (row.collect) return withTransaction(this.#pool, (client) => createInTransaction(client, input, options));
    // Without a fallback chain: one statement, written with any that come in meanwhile.
    const stepped = row.steps && row.steps.length > 1;
    this.#wakeAfter(await (stepped ? insertRows(this.#pool, undefined, [row]) : this.#groups.add(row)), row.sendAt);
    this.#wakeForLaterSteps([row]);
    return { id: row.id, status: row.sendAt > now ? 'scheduled' : 'pending', sendAt: row.sendAt.toISOString(), created: true };
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
        if ('device' in input.to || 'topic' in input.to || 'all' in input.to || input.type !== undefined || input.digest || options.dedupeKey) {
          out.push(await createInTransaction(client, input, options));
          continue;
        }
        const row = toRow(input, options, now, undefined, await pinTemplates(client, input, input.steps ? allChannels(input, null, undefined) : DEFAULT_CHANNELS, memo));
        for (const u of row.userIds) users.add(u);
        bulk.push(row);
        if (!earliest || row.sendAt < earliest) earliest = row.sendAt;
        out.push({ id: row.id, status: row.sendAt > now ? 'scheduled' : 'pending', sendAt: row.sendAt.toISOString(), created: true });
      }
      await store.ensureUsers(client, [...users]);
      for (let i = 0; i < bulk.length; i += 5000) await store.insertBulk(client, bulk.slice(i, i + 5000));
      if (earliest) await notifyDeliveriesDue(client, earliest);
      if ((await insertLaterSteps(client, bulk)) > 0) await notifyDeliveriesDue(client, laterStepsDue(bulk)!);
      return out;
    });
  }

  /**
   * `POST /v1/notifications/batch`: every item is checked as a single POST is checked (the same
   * validator, target and template rules, and error codes); the valid ones are created together
   * in one transaction with multi-row statements, the others are answered with their error and
   * not created. Results in request order.
   */
  async createBatch(items: readonly unknown[], options: CreateOptions): Promise<BatchItemResult[]> {
    const results: BatchItemResult[] = new Array<BatchItemResult>(items.length);
    const accepted: Array<{ index: number; input: NotificationInput; provider: string | undefined }> = [];
    items.forEach((raw, index) => {
      try {
        const input = parseNotificationInput(raw);
        this.#checkTarget(input);
        accepted.push({ index, input, provider: rawDeviceProvider(input) });
      } catch (err) {
        results[index] = itemError(err, index);
      }
    });
    if (accepted.length === 0) return results;
    // Templates and types are read first (a memo per batch); the rows then go in with one
    // statement, its own transaction: all the valid items are created, or none. Broadcasts (to a
    // topic or everyone) are created as a single POST creates them, in the same transaction.
    const now = new Date();
    const memo: PinMemo = new Map();
    const types: TypeMemo = new Map();
    const rows: store.NewBatchRow[] = [];
    const broadcastItems: Array<{ index: number; input: NotificationInput }> = [];
    let earliest: Date | undefined;
    for (const { index, input } of accepted) {
      try {
        await this.#checkApp(input);
      } catch (err) {
        results[index] = itemError(err, index);
        continue;
      }
      if (audienceOf(input) || input.digest) {
        broadcastItems.push({ index, input });
        continue;
      }
      try {
        const row = await prepareRow(this.#pool, input, options, now, memo, types);
        if (row.collect) {
          broadcastItems.push({ index, input });
          continue;
        }
        rows.push(row);
        if (!earliest || row.sendAt < earliest) earliest = row.sendAt;
        results[index] = { id: row.id, status: row.sendAt > now ? 'scheduled' : 'pending', sendAt: row.sendAt.toISOString() };
      } catch (err) {
        results[index] = itemError(err, index);
      }
    }
    if (broadcastItems.length > 0) {
      const deliveries = await withTransaction(this.#pool, async (client) => {
        for (const { index, input } of broadcastItems) {
          await client.query('SAVEPOINT item');
          try {
            const c = await createInTransaction(client, input, { ...options, now });
            results[index] = { id: c.id, status: c.status, sendAt: c.sendAt };
            await client.query('RELEASE SAVEPOINT item');
          } catch (err) {
            await client.query('ROLLBACK TO SAVEPOINT item');
            results[index] = itemError(err, index);
          }
        }
        return insertRows(this.#pool, client, rows);
      });
      this.#wakeForLaterSteps(rows);
      this.#wake.eventsAdded();
      if (earliest && deliveries > 0) this.#wake.deliveriesDue(earliest);
      return results;
    }
    if (earliest) this.#wakeAfter(await insertRows(this.#pool, undefined, rows), earliest);
    this.#wakeForLaterSteps(rows);
    return results;
  }

  /**
   * One notification; `forUser`: as that user has it (404 unless a recipient; only their
   * deliveries). A broadcast read by an operator comes with its fan-out progress and counts by
   * status, and only its first deliveries (it may have a million; the rest: `deliveries()`).
   * A broadcast's recipient is whoever it made a delivery for.
   */
  async get(id: string, forUser?: string): Promise<NotificationRecord> {
    const n = await store.getNotification(this.#pool, id);
    if (!n) throw notFound('notification', id);
    const b = await broadcasts.getBroadcast(this.#pool, id);
    if (b && forUser === undefined) {
      const counts = await broadcasts.deliveryCounts(this.#pool, id);
      const first = await store.getDeliveriesPage(this.#pool, id, undefined, undefined, FIRST_PAGE);
      const fanningOut = b.status === 'waiting' || b.status === 'running';
      return { notification: n, deliveries: first.slice(0, FIRST_PAGE), status: statusFromCounts(n, counts, new Date(), fanningOut), counts, broadcast: b };
    }
    if (forUser !== undefined && !b && !n.user_ids.includes(forUser)) throw notFound('notification', id);
    const deliveries = await store.getDeliveries(this.#pool, [id], forUser);
    if (b && deliveries.length === 0) throw notFound('notification', id);
    return { notification: n, deliveries, status: notificationStatus(n, deliveries), counts: countDeliveries(deliveries) };
  }

  /** A notification's deliveries a page at a time, in id order; `status` narrows to one status. */
  async deliveries(id: string, status: string | undefined, limit: number, cursor: string | undefined): Promise<{ items: store.DeliveryRow[]; nextCursor: string | null }> {
    const after = decodeCursor(cursor, 1)?.[0];
    if (after !== undefined && !/^\d{1,19}$/.test(after)) throw new HeraldError('VALIDATION_FAILED', 'cursor: not a cursor this list returned', [{ field: 'querystring.cursor', message: 'is not a valid cursor' }]);
    const n = await store.getNotification(this.#pool, id);
    if (!n) throw notFound('notification', id);
    const rows = await store.getDeliveriesPage(this.#pool, id, status, after, limit);
    return page(rows, limit, (r) => [r.id]);
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

  /**
   * Cancel what has not been sent yet: every pending delivery, including the waiting later steps
   * of a fallback chain after its first step went out; deliveries sent or being sent stay as they
   * are. 409 only once nothing is left to stop (every delivery sent or being sent). A broadcast
   * can be cancelled part-way too: its fan-out stops and what is still pending is cancelled.
   */
  async cancel(id: string): Promise<void> {
    await withTransaction(this.#pool, async (client) => {
      // The broadcast row first: the fan-out loop holds it for the length of a chunk, so this
      // waits for a running chunk to commit and then sees (and cancels) its deliveries too.
      const b = await broadcasts.getBroadcast(client, id, true);
      const { rows } = await client.query<{ user_ids: string[]; cancelled_at: Date | null }>(
        `SELECT user_ids, cancelled_at FROM notifications WHERE id = $1 FOR NO KEY UPDATE`,
        [id],
      );
      const n = rows[0];
      if (!n) throw notFound('notification', id);
      if (n.cancelled_at) return;
      if (b) {
        await client.query(`UPDATE notifications SET cancelled_at = now() WHERE id = $1`, [id]);
        const open = b.status === 'waiting' || b.status === 'running';
        if (open) await broadcasts.setBroadcastStatus(client, id, 'cancelled');
        const { rowCount } = await client.query(`UPDATE deliveries SET status = 'cancelled', locked_by = NULL, updated_at = now() WHERE notification_id = $1 AND status = 'pending'`, [id]);
        if (!open && !rowCount) throw new HeraldError('CONFLICT', 'Every delivery of this broadcast was already sent or ended; there is nothing left to cancel.');
        await appendEvent(client, { userId: null, type: 'notification:cancelled', itemType: 'notification', itemId: id, data: { fannedOut: b.fanned_out, recipients: b.recipients, cancelledDeliveries: rowCount ?? 0 } });
        return;
      }
      await client.query(`UPDATE notifications SET cancelled_at = now() WHERE id = $1`, [id]);
      // Cancel first, then decide: a delivery a worker claims meanwhile is `sending` and not
      // cancelled here, so the answer rests on what this statement actually stopped. One it
      // claimed and hands back for a retry is skipped at its next claim (cancelled_at is set).
      const cancelled = await store.cancelPendingWhere(client, 'notification', id);
      if (cancelled.length === 0) {
        const { rows: started } = await client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM deliveries WHERE notification_id = $1 AND status IN ('sending', 'sent')`,
          [id],
        );
        if ((started[0]?.n ?? 0) > 0) throw new HeraldError('CONFLICT', 'Every delivery of this notification was already sent or is being sent; there is nothing left to cancel.');
      }
      const users = n.user_ids.length ? n.user_ids : [null];
      await appendEvents(client, users.map((u) => ({
        userId: u, type: 'notification:cancelled', itemType: 'notification', itemId: id,
        data: { cancelledDeliveries: cancelled.filter((d) => d.user_id === u).length },
      })));
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

/** Deliveries shown inline on a broadcast; the rest are paged at /deliveries. */
const FIRST_PAGE = 100;
