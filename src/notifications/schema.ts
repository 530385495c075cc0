import { Type, type Static } from '@sinclair/typebox';
import { PLATFORMS } from '../core/notification.ts';
import { DURATION_PATTERN } from '../core/duration.ts';
import { USER_ID_PATTERN } from '../users/id.ts';

/**
 * `POST /v1/notifications` body. The API validates with it, and so does broker ingest, so a
 * message is accepted from a queue exactly when it would be accepted over HTTP.
 */
const Str = (max: number) => Type.String({ maxLength: max });
/**
 * A link a person is sent to or shown: absolute http(s) only. A `javascript:` (or `data:`)
 * URL in a notification is script that runs in whichever inbox, page or e-mail renders it.
 */
export const HttpUrl = Type.String({ format: 'uri', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://', maxLength: 2048, description: 'an absolute http(s) URL' });
const Platform = Type.Union(PLATFORMS.map((p) => Type.Literal(p)));
export const ChannelSchema = Type.Union([Type.Literal('push'), Type.Literal('email'), Type.Literal('webhook'), Type.Literal('inbox')]);
// The same ids the /v1/users/{userId} routes take: a user made here can be read, changed and erased there.
const UserId = Type.String({ pattern: USER_ID_PATTERN, description: 'the application’s user id: 1–200 characters without whitespace, control characters or `/`, not `.` or `..`' });

export const WebPushSubscriptionSchema = Type.Object(
  {
    endpoint: Type.String({ minLength: 1, maxLength: 2048, format: 'uri' }),
    expirationTime: Type.Optional(Type.Union([Type.Null(), Type.Number()])),
    keys: Type.Object({ p256dh: Type.String({ minLength: 1, maxLength: 200 }), auth: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);

export const AudienceKey = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$', description: 'a topic or notification type key of the app' });
const To = Type.Union([
  Type.Object({ userId: UserId }, { additionalProperties: false }),
  Type.Object({ topic: AudienceKey }, { additionalProperties: false, description: 'a broadcast to every subscriber of the topic (docs/audiences.md)' }),
  Type.Object({ all: Type.Literal(true), appId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) }, { additionalProperties: false, description: 'a broadcast to every user' }),
  Type.Object({ userIds: Type.Array(UserId, { minItems: 1, maxItems: 10_000, uniqueItems: true }) }, { additionalProperties: false }),
  Type.Object(
    {
      device: Type.Object(
        {
          platform: Platform,
          token: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
          subscription: Type.Optional(WebPushSubscriptionSchema),
          environment: Type.Optional(Type.Union([Type.Literal('production'), Type.Literal('development')])),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  ),
]);

const PushType = Type.Union(
  ['alert', 'background', 'voip', 'complication', 'fileprovider', 'mdm', 'location', 'liveactivity', 'pushtotalk', 'controls', 'widgets'].map((t) => Type.Literal(t)),
);

export const TemplateKey = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$', description: 'a template key of the app' });
export const TemplateRefSchema = Type.Object(
  {
    key: TemplateKey,
    version: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: 'default: the latest' })),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'the template variables' })),
  },
  { additionalProperties: false, description: 'render this stored template for each recipient (docs/templates.md)' },
);

/**
 * `sendAt: {localTime: "2027-01-04T09:00"}`: a date and a wall-clock time without offset, due at
 * that time in each recipient's zone (docs/timing.md). Seconds are allowed; a time alone is not.
 */
export const LOCAL_TIME_PATTERN = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2})?$';
export const LocalSendAt = Type.Object(
  { localTime: Type.String({ pattern: LOCAL_TIME_PATTERN, description: 'YYYY-MM-DDTHH:MM[:SS], no offset: that wall-clock time in each recipient’s zone (theirs, else the app’s defaultTimezone, else UTC)' }) },
  { additionalProperties: false, description: 'a local-time send (docs/timing.md)' },
);

/** A step of a fallback chain (docs/timing.md § Fallback chains). */
export const StepSchema = Type.Object(
  {
    channels: Type.Array(ChannelSchema, { minItems: 1, maxItems: 4, uniqueItems: true }),
    after: Type.Optional(Type.String({ pattern: DURATION_PATTERN, description: 'a later step: how long after the notification\'s time it is due ("30s", "15m", "1h", "1d")' })),
    unless: Type.Optional(Type.Union([Type.Literal('delivered'), Type.Literal('read')], { description: 'a later step is not sent once an earlier step\'s delivery to the user was sent (delivered, the default) or its inbox item read (read)' })),
  },
  { additionalProperties: false },
);

export const DigestSchema = Type.Object(
  {
    key: AudienceKey,
    window: Type.String({ pattern: DURATION_PATTERN, description: 'how long the digest collects after its first item: a whole number and s, m, h or d (30m, 1h, 1d), more than zero, at most a year' }),
    template: Type.Optional(Type.Object(
      { key: TemplateKey, version: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })) },
      { additionalProperties: false, description: 'renders the digest with the digest variables (count, key, first, newest, titles, more)' },
    )),
  },
  { additionalProperties: false, description: 'collect this notification per recipient and key; one notification listing them goes out when the window closes (docs/timing.md)' },
);

export const NotificationBody = Type.Object(
  {
    to: To,
    template: Type.Optional(TemplateRefSchema),
    digest: Type.Optional(DigestSchema),
    type: Type.Optional(Type.Union([AudienceKey], { description: 'a notification type of the app (docs/audiences.md): its defaults and each user’s preferences decide the channels' })),
    appId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    channels: Type.Optional(Type.Array(ChannelSchema, { minItems: 1, maxItems: 4, uniqueItems: true })),
    steps: Type.Optional(Type.Array(StepSchema, { minItems: 1, maxItems: 4, description: 'a fallback chain instead of `channels`: the first step goes at the notification\'s time, each later one `after` it unless an earlier one was delivered or read (docs/timing.md)' })),
    sendAt: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), LocalSendAt], { description: 'RFC 3339 (default now), or {localTime} for each recipient’s own zone' })),
    title: Type.Optional(Str(1000)),
    subtitle: Type.Optional(Str(1000)),
    body: Type.Optional(Str(10_000)),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    url: Type.Optional(HttpUrl),
    image: Type.Optional(HttpUrl),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 31_536_000 })),
    collapseId: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })),
    priority: Type.Optional(Type.Union([Type.Literal('high'), Type.Literal('normal'), Type.Literal('critical')], { description: '`critical`: sent as `high`, and goes through quiet hours and frequency caps (docs/timing.md)' })),
    pushType: Type.Optional(PushType),
    sound: Type.Optional(Str(256)),
    badge: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    category: Type.Optional(Str(256)),
    threadId: Type.Optional(Str(256)),
    mutableContent: Type.Optional(Type.Boolean()),
    contentAvailable: Type.Optional(Type.Boolean()),
    interruptionLevel: Type.Optional(Type.Union([Type.Literal('passive'), Type.Literal('active'), Type.Literal('time-sensitive'), Type.Literal('critical')])),
    apns: Type.Optional(
      Type.Object(
        {
          payload: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          headers: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 1000 }))),
        },
        { additionalProperties: false },
      ),
    ),
    fcm: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    webpush: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    email: Type.Optional(
      Type.Object(
        { subject: Type.Optional(Str(998)), text: Type.Optional(Str(1_000_000)), html: Type.Optional(Str(1_000_000)) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type NotificationBodyType = Static<typeof NotificationBody>;
