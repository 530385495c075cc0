/**
 * The channel interface: every provider adapter (APNs, FCM, Web Push, e-mail, webhook, inbox)
 * implements `Channel`, and the delivery engine (src/dispatch/) acts only on the typed verdicts
 * they return — never on error strings.
 *
 * One call per delivery (rather than per batch): the engine claims a batch, sends its rows
 * concurrently and records outcomes in small slices as they complete, so a slow request holds
 * up nothing else and a crash re-sends as little as possible. Adapters multiplex underneath
 * (HTTP/2 streams, SMTP pools).
 */

import type { NotificationContent, Platform, Provider, WebPushSubscription } from '../core/notification.ts';

export { CHANNEL_NAMES, PLATFORMS, PROVIDERS } from '../core/notification.ts';
export type { ChannelName, NotificationContent, Platform, Provider, WebPushSubscription } from '../core/notification.ts';

export interface DeliveryUser {
  readonly id: string;
  readonly email?: string | undefined;
  readonly name?: string | undefined;
  readonly locale?: string | undefined;
  readonly timezone?: string | undefined;
}

export interface DeliveryDevice {
  readonly id: string | undefined;            // undefined for a raw-device notification
  readonly platform: Platform;
  readonly token: string;                     // APNs hex token, FCM token, Web Push endpoint
  readonly environment?: 'production' | 'development' | undefined;
  readonly subscription?: WebPushSubscription | undefined;
  /** Last (re-)registration; APNs 410 answers older than this do not invalidate the device. */
  readonly registeredAt?: Date | undefined;
}

/** One delivery handed to a channel. */
export interface DeliveryJob {
  readonly id: string;                        // delivery id (APNs: apns-id is derived from it)
  readonly notificationId: string;
  readonly provider: Provider;
  readonly appId: string;
  readonly attempt: number;                   // 1 on the first try
  readonly dueAt: Date;
  readonly expiresAt: Date | undefined;       // from ttlSeconds; past it the engine expires the row
  readonly user: DeliveryUser | undefined;
  readonly device: DeliveryDevice | undefined;
  readonly content: NotificationContent;
  readonly reminderId?: string | undefined;
  /** E-mail of a non-required notification type: its one-click unsubscribe link (RFC 8058). */
  readonly unsubscribeUrl?: string | undefined;
}

/**
 * A channel's answer for one delivery.
 * - sent: accepted by the provider (providerId: apns-id, FCM message name, SMTP message id...)
 * - retry: try again later (retryAfterMs from Retry-After when the provider gave one)
 * - failed: permanent; never retried
 * - device-invalid: the token is dead (APNs 410/BadDeviceToken, FCM UNREGISTERED, Web Push
 *   404/410): the device is marked invalid and nothing more is sent to it
 * `appProblem` (on retry/failed): a credential or configuration error of the app, shown on the
 * app's status (`GET /v1/apps/{id}`) instead of being retried forever. Only a failure that is
 * really about the app's own credentials or configuration may carry it — never an answer from a
 * URL an end user chose (a Web Push endpoint), or any user could mark the app broken.
 * `error` is shown to the delivery's end user (`/v1/me/notifications`, events, the device's
 * `invalidReason`): never a provider's response body or a network detail. `detail` holds those for
 * operators only (`lastErrorDetail` on API-key routes).
 */
export type Verdict =
  | { readonly status: 'sent'; readonly providerId?: string | undefined }
  | { readonly status: 'retry'; readonly error: string; readonly detail?: string | undefined; readonly retryAfterMs?: number | undefined; readonly appProblem?: string | undefined }
  | { readonly status: 'failed'; readonly error: string; readonly detail?: string | undefined; readonly appProblem?: string | undefined }
  | { readonly status: 'device-invalid'; readonly error: string; readonly detail?: string | undefined };

export interface Channel {
  readonly provider: Provider;
  /** Most attempts before a retrying delivery is failed (dead letter). */
  readonly maxAttempts: number;
  /**
   * Send one delivery. Must not reject: an unexpected error becomes a `retry` verdict.
   * May be called many times concurrently.
   */
  send(job: DeliveryJob): Promise<Verdict>;
  /** Stop accepting, let in-flight requests finish (or fail them as retry), close connections. */
  close(): Promise<void>;
}

/** What a channel factory is handed by the composition root. */
export interface ChannelDeps {
  readonly config: import('../config/index.ts').Config;
  readonly log: import('../log/index.ts').Logger;
  readonly metrics: import('prom-client').Registry;
  readonly credentials: import('../apps/types.ts').AppCredentialStore;
  /** Where URLs others chose may lead; default: built from `config.outbound`. */
  readonly outbound?: import('../outbound/index.ts').OutboundPolicy | undefined;
}
