/**
 * The words every layer uses for a notification: channel names, providers, device platforms and
 * the content as the API accepted it. The API validates them, the domain stores them, channels
 * send them; declared here once so none of those layers imports another for its vocabulary.
 */

/** What the API calls a channel (`channels: ["push", "email"]`). */
export type ChannelName = 'push' | 'email' | 'webhook' | 'inbox';
export const CHANNEL_NAMES: readonly ChannelName[] = ['push', 'email', 'webhook', 'inbox'];

/** The adapter that actually sends; `push` fans out to apns / fcm / webpush by device platform. */
export type Provider = 'apns' | 'fcm' | 'webpush' | 'email' | 'webhook' | 'inbox';
export const PROVIDERS: readonly Provider[] = ['apns', 'fcm', 'webpush', 'email', 'webhook', 'inbox'];

/** A device's platform, which also picks its push provider (ios → apns, android → fcm, web → webpush). */
export const PLATFORMS = ['ios', 'android', 'web'] as const;
export type Platform = (typeof PLATFORMS)[number];

export interface WebPushSubscription {
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
}

/** The notification as the API accepted it (`POST /v1/notifications`), minus addressing. */
export interface NotificationContent {
  readonly title?: string;
  readonly subtitle?: string;
  readonly body?: string;
  readonly data?: Readonly<Record<string, unknown>>;
  readonly url?: string;
  readonly image?: string;
  readonly ttlSeconds?: number;
  readonly collapseId?: string;
  /** `critical` is sent as `high` and goes through quiet hours and caps (docs/timing.md). */
  readonly priority?: 'high' | 'normal' | 'critical';
  readonly pushType?: 'alert' | 'background' | 'voip' | 'complication' | 'fileprovider' | 'mdm' | 'location' | 'liveactivity' | 'pushtotalk' | 'controls' | 'widgets';
  readonly sound?: string;
  readonly badge?: number;
  readonly category?: string;
  readonly threadId?: string;
  readonly mutableContent?: boolean;
  readonly contentAvailable?: boolean;
  readonly interruptionLevel?: 'passive' | 'active' | 'time-sensitive' | 'critical';
  /** APNs overrides: `payload` is merged over the built payload, `headers` over the built headers. */
  readonly apns?: { readonly payload?: Readonly<Record<string, unknown>>; readonly headers?: Readonly<Record<string, string>> };
  /** FCM v1 message fields merged over the built message (android, apns, webpush, fcm_options...). */
  readonly fcm?: Readonly<Record<string, unknown>>;
  /** Web Push overrides. */
  readonly webpush?: Readonly<Record<string, unknown>>;
  /** E-mail: own subject/text/html; otherwise the reminder template renders them. */
  readonly email?: { readonly subject?: string; readonly text?: string; readonly html?: string };
}

/** The timing rule that decided a delivery's time (docs/timing.md); null: the notification's own time. */
export const DEFERRED_BY = ['quiet-hours', 'send-window', 'cap', 'digest', 'local-time'] as const;
export type DeferredBy = (typeof DEFERRED_BY)[number];
