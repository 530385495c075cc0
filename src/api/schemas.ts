import { Type, type TSchema, type Static } from '@sinclair/typebox';
import { PLATFORMS } from '../core/notification.ts';
import { USER_ID_PATTERN } from '../users/id.ts';
import { APP_ID_PATTERN } from '../apps/id.ts';
import { HttpUrl, TemplateRefSchema } from '../notifications/schema.ts';
import { CLOCK_PATTERN } from '../core/quiet-hours.ts';

/**
 * TypeBox schemas of the v1 API: Fastify validates requests with them and /openapi.json is
 * generated from them. Request bodies reject unknown fields (additionalProperties: false) so a
 * typo is a 400, not a silently ignored setting.
 */
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const DateTime = Type.String({ format: 'date-time' });

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable code from docs/errors.md' }),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { description: 'every error: see docs/errors.md' },
);

/** Error responses a route can give, keyed by status. */
export function errors(...statuses: number[]): Record<number, typeof ErrorBody> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBody]));
}

// User ids come from the application (or a JWT's `sub`, checked against the same pattern).
export const UserId = Type.String({ pattern: USER_ID_PATTERN, description: 'the application’s user id: 1–200 characters without whitespace, control characters or `/`, not `.` or `..`' });
const ResourceId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
export const AppId = Type.String({ pattern: APP_ID_PATTERN });

export const UserParams = Type.Object({ userId: UserId });
export const DeviceParams = Type.Object({ deviceId: ResourceId });
export const UserDeviceParams = Type.Object({ userId: UserId, deviceId: ResourceId });
export const ReminderParams = Type.Object({ reminderId: ResourceId });
export const UserReminderParams = Type.Object({ userId: UserId, reminderId: ResourceId });
export const AppParams = Type.Object({ appId: AppId });

// ---- timing (docs/timing.md)

// The weekdays as RFC 5545 writes them (BYDAY), as src/core/quiet-hours.ts lists them.
const Weekday = Type.Union([Type.Literal('MO'), Type.Literal('TU'), Type.Literal('WE'), Type.Literal('TH'), Type.Literal('FR'), Type.Literal('SA'), Type.Literal('SU')]);
const Clock = Type.String({ pattern: CLOCK_PATTERN, description: 'HH:MM or HH:MM:SS, 00:00 to 23:59:59' });
export const QuietHours = Type.Object(
  {
    start: Clock,
    end: Clock,
    days: Type.Optional(Type.Array(Weekday, { minItems: 1, maxItems: 7, uniqueItems: true, description: 'the days a window starts on (absent: every day)' })),
  },
  { additionalProperties: false, description: 'push and e-mail due inside the window wait for its end, in the recipient’s zone; an end at or before the start is the next day (22:00–07:00)' },
);
export const SendWindow = Type.Object(
  {
    start: Clock,
    end: Clock,
    days: Type.Optional(Type.Array(Weekday, { minItems: 1, maxItems: 7, uniqueItems: true, description: 'the days a window opens on (absent: every day)' })),
  },
  { additionalProperties: false, description: 'push and e-mail go only inside the window, in the recipient’s zone; due outside it, they wait for its next opening; an end at or before the start is the next day' },
);
const TimeZoneName = Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Europe/Berlin' });

// ---- users

const Preferences = Type.Object(
  {
    channels: Type.Optional(
      Type.Object(
        { push: Type.Optional(Type.Boolean()), email: Type.Optional(Type.Boolean()), webhook: Type.Optional(Type.Boolean()), inbox: Type.Optional(Type.Boolean()) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const UserBody = Type.Object(
  {
    email: Type.Optional(Nullable(Type.String({ format: 'email', maxLength: 254, description: 'one mailbox, local@domain (no display name, no list)' }))),
    name: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    timezone: Type.Optional(Nullable(Type.String({ maxLength: 64, description: 'IANA time zone, e.g. Europe/Berlin' }))),
    locale: Type.Optional(Nullable(Type.String({ maxLength: 35 }))),
    preferences: Type.Optional(Preferences),
    quietHours: Type.Optional(Nullable(QuietHours)),
    sendWindow: Type.Optional(Nullable(SendWindow)),
  },
  { additionalProperties: false },
);
export type UserBody = Static<typeof UserBody>;

export const UserView = Type.Object({
  id: Type.String(),
  email: Nullable(Type.String()),
  name: Nullable(Type.String()),
  timezone: Nullable(Type.String()),
  locale: Nullable(Type.String()),
  preferences: Type.Object({ channels: Type.Optional(Type.Record(Type.String(), Type.Boolean())) }),
  quietHours: Nullable(QuietHours),
  sendWindow: Nullable(SendWindow),
  createdAt: DateTime,
  updatedAt: DateTime,
});

// ---- devices

export const DeviceBody = Type.Object(
  {
    platform: Type.Union(PLATFORMS.map((p) => Type.Literal(p))),
    token: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'ios: hex APNs token; android: FCM registration token' })),
    subscription: Type.Optional(
      Type.Object(
        {
          endpoint: Type.String({ minLength: 1, maxLength: 2048 }),
          expirationTime: Type.Optional(Nullable(Type.Number())),
          keys: Type.Object({ p256dh: Type.String({ minLength: 1, maxLength: 256 }), auth: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
        },
        { additionalProperties: false, description: 'web: the browser’s PushSubscription.toJSON()' },
      ),
    ),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    environment: Type.Optional(Type.Union([Type.Literal('production'), Type.Literal('development')], { description: 'ios: APNs environment (default: the app’s)' })),
    appId: Type.Optional(AppId),
  },
  { additionalProperties: false },
);
export type DeviceBody = Static<typeof DeviceBody>;

export const DeviceView = Type.Object({
  id: Type.String(),
  userId: Type.String(),
  appId: Type.String(),
  platform: Type.String(),
  token: Type.String(),
  subscription: Type.Optional(Type.Object({ endpoint: Type.String(), keys: Type.Object({ p256dh: Type.String(), auth: Type.String() }) })),
  name: Nullable(Type.String()),
  environment: Nullable(Type.String()),
  status: Type.Union([Type.Literal('active'), Type.Literal('invalid')]),
  invalidReason: Type.Optional(Type.String()),
  invalidatedAt: Type.Optional(DateTime),
  registeredAt: DateTime,
  createdAt: DateTime,
  updatedAt: DateTime,
});
export const DeviceList = Type.Object({ items: Type.Array(DeviceView) });

// ---- reminders

const Channel = Type.Union([Type.Literal('push'), Type.Literal('email'), Type.Literal('webhook'), Type.Literal('inbox')]);
const reminderFields = {
  date: Type.String({ format: 'date-time', description: 'RFC 3339; the (first) occurrence' }),
  message: Type.Optional(Type.String({ minLength: 1, maxLength: 4000, description: 'required unless a template is given' })),
  title: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
  url: Type.Optional(Nullable(HttpUrl)),
  notifyOffset: Type.Optional(Type.Integer({ minimum: 0, maximum: 527040, description: 'minutes before date' })),
  channels: Type.Optional(Type.Array(Channel, { minItems: 1, maxItems: 4 })),
  notifyType: Type.Optional(Type.Union([Type.Literal('push'), Type.Literal('email')], { description: 'the old NestJS system\'s field: synonym of channels: [notifyType]' })),
  isRecurring: Type.Optional(Type.Boolean({ description: 'true without recurrence: daily' })),
  recurrence: Type.Optional(Nullable(Type.String({ maxLength: 500, description: 'RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO,WE' }))),
  timezone: Type.Optional(Nullable(Type.String({ maxLength: 64, description: 'IANA zone the rule runs in (default: the user’s, else UTC)' }))),
  appId: Type.Optional(AppId),
  template: Type.Optional(Nullable(TemplateRefSchema)),
  topic: Type.Optional(Nullable(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$', description: 'broadcast each occurrence to this topic of the app instead of the user (API keys only; docs/audiences.md)' }))),
  type: Type.Optional(Nullable(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$', description: 'a notification type of the app (docs/audiences.md)' }))),
};
export const ReminderBody = Type.Object(reminderFields, { additionalProperties: false });
export type ReminderBody = Static<typeof ReminderBody>;
export const ReminderPatch = Type.Partial(Type.Object(reminderFields), { additionalProperties: false });
export type ReminderPatch = Static<typeof ReminderPatch>;

export const ReminderView = Type.Object({
  id: Type.String(),
  userId: Type.String(),
  appId: Type.String(),
  date: DateTime,
  title: Nullable(Type.String()),
  message: Type.String(),
  url: Nullable(Type.String()),
  notifyOffset: Type.Integer(),
  channels: Type.Array(Type.String()),
  notifyType: Type.Optional(Type.String()),
  isRecurring: Type.Boolean(),
  recurrence: Nullable(Type.String()),
  timezone: Nullable(Type.String()),
  nextFireAt: Nullable(DateTime),
  template: Type.Optional(Type.Object({ key: Type.String(), version: Type.Integer(), data: Type.Record(Type.String(), Type.Unknown()) }, { description: 'the pinned template its notifications render' })),
  topic: Type.Optional(Type.String()),
  type: Type.Optional(Type.String()),
  createdAt: DateTime,
  updatedAt: DateTime,
});
export const Paging = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
});
export const ReminderList = Type.Object({ items: Type.Array(ReminderView), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() });

// ---- events

export const EventQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  after: Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$', description: 'cursor: the `next` of the previous page (an event id)' })),
});
export const EventList = Type.Object({
  items: Type.Array(Type.Object({ id: Type.String(), type: Type.String(), itemType: Type.String(), itemId: Type.String(), data: Type.Unknown(), createdAt: DateTime })),
  next: Type.Optional(Type.String()),
});

// ---- apps

const Pem = (description: string) => Type.String({ minLength: 1, maxLength: 20_000, description });
export const AppBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    defaultLocale: Type.Optional(Type.String({ minLength: 1, maxLength: 35, description: 'BCP 47 tag templates fall back to (default en)' })),
    retentionDays: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 36500, description: 'days finished notifications, inbox items and events of this app are kept; null or absent: HERALD_RETENTION_DAYS' }))),
    defaultTimezone: Type.Optional(Nullable(TimeZoneName)),
    quietHours: Type.Optional(Nullable(QuietHours)),
    sendWindow: Type.Optional(Nullable(SendWindow)),
    apns: Type.Optional(
      Type.Object(
        {
          bundleId: Type.String({ minLength: 1, maxLength: 255 }),
          environment: Type.Optional(Type.Union([Type.Literal('production'), Type.Literal('development')])),
          url: Type.Optional(Type.String({ maxLength: 2048 })),
          teamId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          keyId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          key: Type.Optional(Pem('token auth: the .p8 key (PEM)')),
          cert: Type.Optional(Pem('certificate auth: PEM certificate')),
          privateKey: Type.Optional(Pem('certificate auth: PEM private key')),
          pkcs12: Type.Optional(Type.String({ minLength: 1, maxLength: 40_000, description: 'certificate auth: PKCS#12, base64' })),
          passphrase: Type.Optional(Type.String({ maxLength: 1024 })),
        },
        { additionalProperties: false },
      ),
    ),
    fcm: Type.Optional(
      Type.Object(
        {
          serviceAccount: Type.Union([Type.String({ maxLength: 20_000 }), Type.Object({}, { additionalProperties: true })], { description: 'the service-account JSON (object or string)' }),
          url: Type.Optional(Type.String({ maxLength: 2048 })),
          validateTokens: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    webpush: Type.Optional(
      Type.Object(
        { vapidPublicKey: Type.String({ minLength: 1, maxLength: 200 }), vapidPrivateKey: Type.String({ minLength: 1, maxLength: 200 }), subject: Type.String({ minLength: 1, maxLength: 500 }) },
        { additionalProperties: false },
      ),
    ),
    email: Type.Optional(
      Type.Object(
        {
          from: Type.String({ minLength: 3, maxLength: 320 }),
          smtpUrl: Type.Optional(Type.String({ maxLength: 2048 })),
          ses: Type.Optional(Type.Object({ region: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })),
        },
        { additionalProperties: false },
      ),
    ),
    webhook: Type.Optional(
      Type.Object({ url: Type.String({ minLength: 1, maxLength: 2048 }), secret: Type.Optional(Type.String({ maxLength: 1024 })) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
export type AppBody = Static<typeof AppBody>;

export const AppView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  channels: Type.Record(Type.String(), Type.Unknown(), { description: 'configured channels with key ids, bundle id, environment: never secrets' }),
  status: Type.Record(Type.String(), Type.Object({ problem: Type.String(), at: Type.String() }), { description: 'credential problems providers reported, per channel' }),
  defaultLocale: Type.String({ description: 'the locale templates fall back to' }),
  retentionDays: Nullable(Type.Integer({ description: 'days this app keeps finished notifications, inbox items and events; null: the operator default' })),
  defaultTimezone: Nullable(Type.String({ description: 'the zone of users who have none (docs/timing.md); null: UTC' })),
  quietHours: Nullable(QuietHours),
  sendWindow: Nullable(SendWindow),
  createdAt: Nullable(DateTime),
  updatedAt: Nullable(DateTime),
});

/** A notification as `GET /v1/notifications/{id}` shows it (src/api/views.ts builds it). */
export const DeliveryView = Type.Object({
  id: Type.String(),
  channel: Type.String(),
  provider: Type.String(),
  userId: Type.Optional(Type.String()),
  deviceId: Type.Optional(Type.String()),
  status: Type.String(),
  attempts: Type.Integer(),
  dueAt: Type.String(),
  lastError: Type.Optional(Type.String()),
  lastErrorDetail: Type.Optional(Type.String({ description: "What the provider or the network said about the last failure (a push service's answer body, a connection error). API-key routes only: never shown through /v1/me." })),
  providerId: Type.Optional(Type.String()),
  sentAt: Type.Optional(Type.String()),
  step: Type.Integer({ description: 'the fallback step it belongs to (0: the first; docs/timing.md)' }),
  deferredBy: Type.Union([Type.Literal('quiet-hours'), Type.Literal('send-window'), Type.Literal('cap'), Type.Literal('digest'), Type.Literal('local-time'), Type.Null()], { description: 'the timing rule that decided when this delivery goes out (docs/timing.md); null: sent at the notification’s own time' }),
});

const StepCountsView = Type.Object({
  pending: Type.Integer(), sending: Type.Integer(), sent: Type.Integer(), failed: Type.Integer(), expired: Type.Integer(), cancelled: Type.Integer(), capped: Type.Integer(),
});

export const StepView = Type.Object({
  channels: Type.Array(Type.String()),
  after: Type.Optional(Type.String({ description: 'how long after the notification\'s time a later step is due' })),
  unless: Type.Optional(Type.Union([Type.Literal('delivered'), Type.Literal('read')])),
  status: Type.String({ description: 'waiting, sending, sent, cancelled (an earlier step was delivered or read), capped, failed, expired, or none (nothing to deliver)' }),
  counts: StepCountsView,
}, { description: 'a step of the fallback chain with the outcome of its deliveries (docs/timing.md)' });

export const NotificationView = Type.Object({
  id: Type.String(),
  status: Type.String(),
  sendAt: Type.String({ description: 'when it is due; with a local time, the first moment that time comes round anywhere (UTC+14)' }),
  localTime: Type.Optional(Type.String({ description: 'sent as sendAt: {localTime}: the wall-clock time each recipient’s delivery is due at in their zone (docs/timing.md)' })),
  createdAt: Type.String(),
  source: Type.Optional(Type.String()),
  appId: Type.Optional(Type.String()),
  reminderId: Type.Optional(Type.String()),
  userIds: Type.Array(Type.String()),
  channels: Type.Array(Type.String()),
  title: Type.Optional(Type.String()),
  body: Type.Optional(Type.String()),
  cancelledAt: Type.Optional(Type.String()),
  template: Type.Optional(Type.Object({ key: Type.String(), version: Type.Integer() }, { description: 'the template version this notification renders' })),
  type: Type.Optional(Type.String({ description: 'the notification type (docs/audiences.md)' })),
  audience: Type.Optional(Type.Object({
    kind: Type.Union([Type.Literal('topic'), Type.Literal('all')]),
    topic: Type.Optional(Type.String()),
    status: Type.String({ description: 'fan-out: waiting, running, complete or cancelled' }),
    recipients: Type.Integer({ description: 'audience size when fan-out began (0 before)' }),
    fannedOut: Type.Integer({ description: 'recipients whose deliveries exist' }),
    deliveries: Type.Integer({ description: 'deliveries made by the fan-out' }),
    complete: Type.Boolean(),
    startedAt: Type.Optional(Type.String()),
    completedAt: Type.Optional(Type.String()),
  }, { description: 'a broadcast’s audience and fan-out progress (API-key routes only)' })),
  counts: Type.Optional(Type.Object({
    pending: Type.Integer(), sending: Type.Integer(), sent: Type.Integer(), failed: Type.Integer(), expired: Type.Integer(), cancelled: Type.Integer(), capped: Type.Integer({ description: 'dropped by a frequency cap' }), digested: Type.Integer({ description: 'held for a digest and delivered in it' }),
  }, { description: 'deliveries by status' })),
  steps: Type.Optional(Type.Array(StepView, { description: 'the fallback chain, each step with its deliveries\' outcome' })),
  deliveries: Type.Optional(Type.Array(DeliveryView, { description: 'every delivery; of a broadcast, the first 100 (the rest: GET /v1/notifications/{id}/deliveries)' })),
});

export const DeliveryPage = Type.Object({ items: Type.Array(DeliveryView), nextCursor: Type.Union([Type.String(), Type.Null()]) });

export const CreatedView = Type.Object({ id: Type.String(), status: Type.String(), sendAt: Type.String() });
