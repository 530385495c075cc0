import type { ChannelName, NotificationContent, Platform, WebPushSubscription } from '../core/notification.ts';
import type { TemplateRef } from '../templates/types.ts';
import type { StepInput } from './fallback-steps.ts';

/** `POST /v1/notifications` (docs/api.md, Notifications): addressing, timing and content. */
export interface NotificationInput extends NotificationContent {
  readonly to:
    | { readonly userId: string }
    | { readonly userIds: readonly string[] }
    | { readonly topic: string }
    | { readonly all: true; readonly appId?: string }
    | {
        readonly device: {
          readonly platform: Platform;
          readonly token?: string;
          readonly subscription?: WebPushSubscription;
          readonly environment?: 'production' | 'development';
        };
      };
  readonly appId?: string;
  /** Default: push (every valid device of the user) + inbox. */
  readonly channels?: readonly ChannelName[];
  /** RFC 3339 (default now), or a wall-clock time in each recipient's zone (docs/timing.md). */
  readonly sendAt?: string | { readonly localTime: string };
  /** A stored template rendered per recipient at send time (docs/templates.md). */
  readonly template?: TemplateRef;
  /** A notification type of the app (docs/audiences.md). */
  readonly type?: string;
  /** A fallback chain instead of `channels` (docs/timing.md § Fallback chains). */
  readonly steps?: readonly StepInput[];
  /** Collected per recipient and key, delivered as one digest when the window closes (docs/timing.md). */
  readonly digest?: DigestRequest;
}

export interface DigestRequest {
  readonly key: string;
  readonly window: string;
  readonly template?: { readonly key: string; readonly version?: number };
}

export interface CreateOptions {
  /** api, reminder, ingest:pubsub, ingest-apns, ... recorded on the notification. */
  readonly source: string;
  /** Absolute expiry overriding ttlSeconds (the old APNs worker: publish time + max age). */
  readonly expiresAt?: Date;
  /** Exactly-once creation per key (broker message ids); a repeat returns the first result. */
  readonly dedupeKey?: string;
}

export interface CreatedNotification {
  readonly id: string;
  readonly status: string;
  readonly sendAt: string;
  /** false when dedupeKey matched an earlier notification. */
  readonly created: boolean;
}

/** What ingest roles and the API call to create a notification (src/notifications/service.ts). */
export interface NotificationCreator {
  create(input: NotificationInput, options: CreateOptions): Promise<CreatedNotification>;
}

/** One item's answer in a batch (docs/api.md § Batch): created, or why not. */
export type BatchItemResult =
  | { readonly id: string; readonly status: string; readonly sendAt: string }
  | { readonly error: { readonly code: string; readonly message: string; readonly details?: unknown } };
