import { Type } from '@sinclair/typebox';
import { AppId, UserId } from './schemas.ts';

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
