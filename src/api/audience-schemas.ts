import { Type } from '@sinclair/typebox';
import { AppId, UserId } from './schemas.ts';
import { DURATION_PATTERN } from '../core/duration.ts';

/** TypeBox schemas of topics, notification types and preferences (docs/audiences.md). */
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

export const Key = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$', description: 'letters, digits, `.`, `_`, `:` and `-`; 1–100 characters' });
export const KeyParams = Type.Object({ key: Key });
export const AppQuery = Type.Object({ appId: Type.Optional(AppId) });
export const DefaultAppQuery = Type.Object({ appId: Type.String({ pattern: AppId.pattern, default: 'default' }) });
export const CursorPage = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  cursor: Type.Optional(Type.String({ maxLength: 1000, description: 'nextCursor of the previous page' })),
});
export const CursorPageWithApp = Type.Composite([CursorPage, AppQuery]);
export const CursorPageDefaultApp = Type.Composite([CursorPage, DefaultAppQuery]);

export const TopicBody = Type.Object(
  {
    name: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
    appId: Type.Optional(AppId),
    selfSubscribe: Type.Optional(Type.Boolean({ description: 'end users may subscribe and unsubscribe themselves (`/v1/me/topics/{key}`)' })),
  },
  { additionalProperties: false },
);

export const TopicView = Type.Object({
  key: Type.String(),
  appId: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  description: Type.Union([Type.String(), Type.Null()]),
  selfSubscribe: Type.Boolean(),
  subscribers: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export const TopicList = Type.Object({ items: Type.Array(TopicView), nextCursor: Type.Union([Type.String(), Type.Null()]) });
export const UserTopicList = Type.Object({
  items: Type.Array(Type.Composite([TopicView, Type.Object({ subscribedAt: Type.String() })])),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const SubscribersBody = Type.Object(
  { userIds: Type.Array(UserId, { minItems: 1, maxItems: 10_000 }), appId: Type.Optional(AppId) },
  { additionalProperties: false },
);
export const Subscribed = Type.Object({ added: Type.Integer(), already: Type.Integer() });
export const Unsubscribed = Type.Object({ removed: Type.Integer() });
export const SubscriberList = Type.Object({
  items: Type.Array(Type.Object({ userId: Type.String(), subscribedAt: Type.String() })),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

const channelProps = <T extends ReturnType<typeof Type.Boolean> | ReturnType<typeof Type.Union>>(value: () => T) =>
  ({ push: Type.Optional(value()), email: Type.Optional(value()), inbox: Type.Optional(value()), webhook: Type.Optional(value()) });
const Switches = Type.Object(channelProps(() => Type.Boolean()), { additionalProperties: false });

const CapChannel = Type.Union([Type.Literal('push'), Type.Literal('email'), Type.Literal('inbox'), Type.Literal('webhook')]);
const CapAction = Type.Union([Type.Literal('defer'), Type.Literal('drop')]);
export const CapBody = Type.Object(
  {
    max: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'deliveries a user may get within `per`' }),
    per: Type.String({ pattern: DURATION_PATTERN, description: 'the sliding window: a whole number and s, m, h or d (10m, 24h, 7d), more than zero, at most a year' }),
    action: Type.Optional(Type.Union([CapAction], { description: 'over the cap: `defer` (default) to when the cap allows it, or `drop` (status `capped`)' })),
    channel: Type.Optional(Type.Union([CapChannel], { description: 'count and cap only this channel; absent: every channel of the type' })),
  },
  { additionalProperties: false, description: 'a frequency cap per user (docs/timing.md)' },
);
export const CapView = Type.Object({ max: Type.Integer(), per: Type.String(), action: CapAction, channel: Type.Optional(Type.String()) });

export const TypeParams = Type.Object({ appId: AppId, key: Key });
export const TypeBody = Type.Object(
  {
    name: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
    required: Type.Optional(Type.Boolean({ description: 'users cannot switch it off (security alerts, receipts)' })),
    channels: Type.Optional(Type.Union([Switches], { description: 'default per channel for users who chose nothing (absent: on)' })),
    cap: Type.Optional(Type.Union([CapBody, Type.Null()])),
  },
  { additionalProperties: false },
);
export const TypeView = Type.Object({
  key: Type.String(),
  appId: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  description: Type.Union([Type.String(), Type.Null()]),
  required: Type.Boolean(),
  channels: Type.Record(Type.String(), Type.Boolean()),
  cap: Type.Union([CapView, Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export const TypeList = Type.Object({ items: Type.Array(TypeView) });

const DigestChoiceView = Type.Object({ cadence: Type.Union([Type.Literal('hourly'), Type.Literal('daily')]), at: Type.Optional(Type.String()) });
/** A per-type choice in a preferences PATCH: channel switches, and the digest cadence. */
const TypeChoice = Type.Object(
  {
    ...channelProps(() => Type.Union([Type.Boolean(), Type.Null()])),
    digest: Type.Optional(Type.Union([Type.Literal('hourly'), Type.Literal('daily'), Type.Null()], { description: 'collect this type into an hourly or daily digest (docs/timing.md); null: each notification on its own' })),
    at: Type.Optional(Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'the local time a daily digest goes out (HH:MM, the user’s zone); default 09:00' })),
  },
  { additionalProperties: false },
);
const Effective = Type.Object({ enabled: Type.Boolean(), source: Type.Union([Type.Literal('default'), Type.Literal('user'), Type.Literal('required')]) });
export const PreferencesView = Type.Object({
  appId: Type.String(),
  channels: Type.Object({ push: Type.Boolean(), email: Type.Boolean(), inbox: Type.Boolean(), webhook: Type.Boolean() }, { description: 'switches for every type' }),
  types: Type.Array(Type.Object({
    key: Type.String(),
    name: Type.Union([Type.String(), Type.Null()]),
    description: Type.Union([Type.String(), Type.Null()]),
    required: Type.Boolean(),
    channels: Type.Object({ push: Effective, email: Effective, inbox: Effective, webhook: Effective }, { description: 'effective value per channel and why' }),
    digest: Type.Union([DigestChoiceView, Type.Null()], { description: 'the digest the user chose for this type (docs/timing.md); null: each notification on its own' }),
  })),
});
export const PreferencesPatch = Type.Object(
  {
    channels: Type.Optional(Switches),
    types: Type.Optional(Type.Record(Key, TypeChoice, { maxProperties: 200, description: '{"<type key>": {"email": false, "digest": "daily", "at": "08:30"}}; null: back to the type’s default' })),
  },
  { additionalProperties: false },
);
