import { Type, type Static } from '@sinclair/typebox';
import { AppId, AppView } from './schemas.ts';

/** Schemas of the console's JSON routes (src/api/routes/console.ts). */
const Nullable = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Number>>(schema: T) => Type.Union([schema, Type.Null()]);
const DateTime = Type.String({ format: 'date-time' });
const Cursor = Type.String({ minLength: 1, maxLength: 1200, description: 'nextCursor of the previous page' });
const Limit = Type.Integer({ minimum: 1, maximum: 200, default: 50 });
const Channel = Type.Union([Type.Literal('push'), Type.Literal('email'), Type.Literal('webhook'), Type.Literal('inbox')]);
const Provider = Type.Union(['apns', 'fcm', 'webpush', 'email', 'webhook', 'inbox'].map((p) => Type.Literal(p)));
const DeliveryId = Type.String({ pattern: '^[1-9][0-9]{0,18}$', description: 'a delivery id' });

export const StatsQuery = Type.Object({
  minutes: Type.Integer({ minimum: 1, maximum: 1440, default: 60, description: 'the window: this many minutes up to now, the current one included' }),
});

const Ms = Nullable(Type.Number());
export const DeliveryStats = Type.Object({
  generatedAt: DateTime,
  from: DateTime,
  minutes: Type.Integer(),
  step: Type.Integer({ description: 'minutes per point: 1 up to a two-hour window, 5 up to six hours, else 15' }),
  perMinute: Type.Array(Type.Object({ minute: DateTime, channel: Type.String(), outcome: Type.String({ description: 'sent, failed or expired' }), count: Type.Integer() })),
  lateness: Type.Object({
    boundsMs: Type.Array(Type.Number(), { description: 'upper bounds of the lateness buckets the percentiles are read from' }),
    sent: Type.Integer(),
    p50Ms: Ms,
    p99Ms: Ms,
    perMinute: Type.Array(Type.Object({ minute: DateTime, p50Ms: Ms, p99Ms: Ms })),
  }, { description: 'from a delivery’s due time to its send: percentiles are the upper bound of the bucket they fall in' }),
  byProvider: Type.Array(Type.Object({ provider: Type.String(), sent: Type.Integer(), failed: Type.Integer(), expired: Type.Integer() })),
  backlog: Type.Object({ due: Type.Integer(), oldestDueSeconds: Type.Number() }, { description: 'deliveries due and not yet claimed' }),
});

export const DeadLetterQuery = Type.Object({
  appId: Type.Optional(AppId),
  channel: Type.Optional(Channel),
  provider: Type.Optional(Provider),
  error: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'text the last error contains (case-insensitive)' })),
  limit: Limit,
  cursor: Type.Optional(Cursor),
});
export type DeadLetterQuery = Static<typeof DeadLetterQuery>;

export const DeadLetterPage = Type.Object({
  items: Type.Array(Type.Object({
    id: Type.String(),
    notificationId: Type.String(),
    userId: Nullable(Type.String()),
    deviceId: Nullable(Type.String()),
    appId: Type.String(),
    channel: Type.String(),
    provider: Type.String(),
    step: Type.Integer({ minimum: 0, description: 'the fallback step the delivery belonged to: 0 is the first (and the only one of a notification without steps)' }),
    attempts: Type.Integer(),
    lastError: Nullable(Type.String()),
    lastErrorDetail: Nullable(Type.String({ description: 'what the provider or the network said (operators only)' })),
    failedAt: DateTime,
    createdAt: DateTime,
  })),
  nextCursor: Type.Optional(Type.String()),
});

export const Redrive = Type.Object({
  ids: Type.Array(DeliveryId, { minItems: 1, maxItems: 1000, description: 'ids of failed deliveries' }),
}, { additionalProperties: false });
export type Redrive = Static<typeof Redrive>;
export const Redriven = Type.Object({ redriven: Type.Integer(), ids: Type.Array(Type.String(), { description: 'the deliveries sent again' }) });

export const UserSearchQuery = Type.Object({
  query: Type.Optional(Type.String({ maxLength: 320, description: 'the start of a user id, or of an e-mail address when it has an @' })),
  limit: Limit,
  cursor: Type.Optional(Cursor),
});
export type UserSearchQuery = Static<typeof UserSearchQuery>;

export const UserSearchPage = Type.Object({
  items: Type.Array(Type.Object({ id: Type.String(), email: Nullable(Type.String()), name: Nullable(Type.String()), createdAt: DateTime })),
  nextCursor: Type.Optional(Type.String()),
});

export const AppList = Type.Object({
  items: Type.Array(Type.Intersect([AppView, Type.Object({ vapidPublicKey: Type.Optional(Type.String({ description: 'the Web Push public key browsers subscribe with' })) })])),
});

export const NotificationParams = Type.Object({ notificationId: Type.String({ minLength: 1, maxLength: 64 }) });
export const NotificationEvents = Type.Object({
  items: Type.Array(Type.Object({ id: Type.String(), userId: Nullable(Type.String()), type: Type.String(), data: Type.Unknown(), createdAt: DateTime })),
});
