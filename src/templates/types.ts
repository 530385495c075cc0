/**
 * Stored templates (docs/templates.md): per app and key, versioned, with content per channel and
 * per locale in ICU MessageFormat, and a declared variable schema.
 */

export type VariableType = 'string' | 'number' | 'date' | 'boolean';

export interface VariableSpec {
  readonly type: VariableType;
  readonly required?: boolean | undefined;
  /** Used when the variable is absent (an RFC 3339 string for dates). */
  readonly default?: string | number | boolean | undefined;
  /** Strings only: inserted as given into `email.html` and URL fields instead of escaped. */
  readonly trusted?: boolean | undefined;
  readonly description?: string | undefined;
}

export interface PushContent {
  readonly title?: string | undefined;
  readonly subtitle?: string | undefined;
  readonly body?: string | undefined;
}

export interface EmailContent {
  readonly subject: string;
  readonly html?: string | undefined;
  readonly text?: string | undefined;
}

export interface InboxContent {
  readonly title?: string | undefined;
  readonly body?: string | undefined;
  readonly url?: string | undefined;
}

/** Webhook: `title`, `body` and string `data` values, each a message; merged into the webhook JSON. */
export interface WebhookContent {
  readonly title?: string | undefined;
  readonly body?: string | undefined;
  readonly data?: Readonly<Record<string, string>> | undefined;
}

export interface LocaleContent {
  readonly push?: PushContent | undefined;
  readonly email?: EmailContent | undefined;
  readonly inbox?: InboxContent | undefined;
  readonly webhook?: WebhookContent | undefined;
}

export type TemplateChannel = keyof LocaleContent;
export const TEMPLATE_CHANNELS: readonly TemplateChannel[] = ['push', 'email', 'inbox', 'webhook'];

/** What one version says; stored as JSON and never changed once saved. */
export interface TemplateDefinition {
  readonly description?: string | undefined;
  readonly variables: Readonly<Record<string, VariableSpec>>;
  /** The last step of every locale fallback chain; one of `locales`. */
  readonly defaultLocale: string;
  readonly locales: Readonly<Record<string, LocaleContent>>;
}

export interface TemplateVersion {
  readonly appId: string;
  readonly key: string;
  readonly version: number;
  readonly definition: TemplateDefinition;
  readonly createdAt: Date | null;
  /** Defined in herald's code (version 0), not stored by the app. */
  readonly builtIn: boolean;
}

/** What a notification or reminder names: `template: {key, version?, data?}`. */
export interface TemplateRef {
  readonly key: string;
  readonly version?: number | undefined;
  readonly data?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * A reference resolved and checked at creation: the app whose template it is (a push to a
 * device of another app still renders the notification's template), the exact version and the
 * checked data.
 */
export interface PinnedTemplate {
  readonly appId: string;
  readonly key: string;
  readonly version: number;
  readonly data: Readonly<Record<string, unknown>>;
}

/** A rule a template or its data breaks, named like validation details (`body.locales.de.push.body`). */
export interface Problem {
  readonly field: string;
  readonly message: string;
}
