import { Type, type TSchema } from '@sinclair/typebox';
import { AppId } from './schemas.ts';
import { TemplateKey } from '../notifications/schema.ts';

/**
 * TypeBox schemas of the template routes (docs/templates.md). Shapes are checked here; what
 * only a compiler can tell (ICU syntax, declared variables, locale tags) is 422 TEMPLATE_INVALID
 * from src/templates/compile.ts.
 */
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Message = (maxLength: number, description?: string) => Type.String({ maxLength, ...(description ? { description } : {}) });
const closed = { additionalProperties: false } as const;

const VariableName = '^[A-Za-z_][A-Za-z0-9_]{0,63}$';
const LocaleTag = '^[A-Za-z0-9_-]{1,35}$';
const DataKey = '^[A-Za-z0-9_.-]{1,100}$';

export const VariableSpec = Type.Object(
  {
    type: Type.Union([Type.Literal('string'), Type.Literal('number'), Type.Literal('date'), Type.Literal('boolean')]),
    required: Type.Optional(Type.Boolean()),
    default: Type.Optional(Type.Union([Type.String({ maxLength: 10_000 }), Type.Number(), Type.Boolean()], { description: 'used when absent; dates as RFC 3339 text' })),
    trusted: Type.Optional(Type.Boolean({ description: 'strings: inserted as given into email.html and URL fields (otherwise escaped)' })),
    description: Type.Optional(Type.String({ maxLength: 500 })),
  },
  closed,
);

export const LocaleContent = Type.Object(
  {
    push: Type.Optional(Type.Object({ title: Type.Optional(Message(1000)), subtitle: Type.Optional(Message(1000)), body: Type.Optional(Message(10_000)) }, closed)),
    email: Type.Optional(Type.Object({ subject: Type.String({ minLength: 1, maxLength: 998 }), html: Type.Optional(Message(500_000)), text: Type.Optional(Message(500_000)) }, closed)),
    inbox: Type.Optional(Type.Object({ title: Type.Optional(Message(1000)), body: Type.Optional(Message(10_000)), url: Type.Optional(Message(2048)) }, closed)),
    webhook: Type.Optional(
      Type.Object(
        {
          title: Type.Optional(Message(1000)),
          body: Type.Optional(Message(10_000)),
          data: Type.Optional(Type.Record(Type.String({ pattern: DataKey }), Message(10_000), { ...closed, maxProperties: 100, description: 'each value a message, merged into the webhook’s data' })),
        },
        closed,
      ),
    ),
  },
  closed,
);

const definitionFields = {
  description: Type.Optional(Type.String({ maxLength: 500 })),
  variables: Type.Optional(Type.Record(Type.String({ pattern: VariableName }), VariableSpec, { ...closed, maxProperties: 100 })),
  defaultLocale: Type.Optional(Type.String({ minLength: 1, maxLength: 35, description: 'default: the app’s defaultLocale' })),
  locales: Type.Record(Type.String({ pattern: LocaleTag }), LocaleContent, { ...closed, minProperties: 1, maxProperties: 200, description: 'content per BCP 47 locale tag; text is ICU MessageFormat' }),
};

export const TemplateBody = Type.Object(definitionFields, closed);

export const TemplateParams = Type.Object({ appId: AppId, key: TemplateKey });
export const TemplateVersionParams = Type.Object({ appId: AppId, key: TemplateKey, version: Type.Integer({ minimum: 0, maximum: 2_147_483_647 }) });

export const TemplateView = Type.Object({
  appId: Type.String(),
  key: Type.String(),
  version: Type.Integer(),
  builtIn: Type.Boolean({ description: 'defined by herald (version 0); PUT the key to override it' }),
  description: Type.Optional(Type.String()),
  variables: Type.Record(Type.String(), VariableSpec),
  defaultLocale: Type.String(),
  locales: Type.Record(Type.String(), LocaleContent),
  createdAt: Nullable(Type.String({ format: 'date-time' })),
});

export const TemplateList = Type.Object({
  items: Type.Array(
    Type.Object({
      key: Type.String(),
      version: Type.Integer(),
      builtIn: Type.Boolean(),
      description: Type.Optional(Type.String()),
      defaultLocale: Type.String(),
      locales: Type.Array(Type.String()),
      channels: Type.Array(Type.String()),
      updatedAt: Nullable(Type.String({ format: 'date-time' })),
    }),
  ),
});

export const VersionList = Type.Object({
  items: Type.Array(Type.Object({ version: Type.Integer(), builtIn: Type.Boolean(), createdAt: Nullable(Type.String({ format: 'date-time' })) })),
});

const TemplateChannel = Type.Union([Type.Literal('push'), Type.Literal('email'), Type.Literal('inbox'), Type.Literal('webhook')]);

export const PreviewBody = Type.Object(
  {
    locale: Type.Optional(Type.String({ minLength: 1, maxLength: 35, description: 'the recipient’s locale (default: the template’s default)' })),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'the recipient’s IANA zone (default UTC)' })),
    channel: Type.Optional(TemplateChannel),
    version: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  closed,
);

const Rendered = Type.Object({ locale: Type.String({ description: 'the template locale used' }) }, { additionalProperties: Type.Unknown() });
export const PreviewView = Type.Object({
  key: Type.String(),
  version: Type.Integer(),
  rendered: Type.Object({
    push: Type.Optional(Rendered),
    email: Type.Optional(Rendered),
    inbox: Type.Optional(Rendered),
    webhook: Type.Optional(Rendered),
  }),
});
