import type { PoolClient } from 'pg';
import type { Platform } from './notification.ts';

/**
 * Points where the domain services (users, devices, reminders) let the delivery engine act in
 * the same transaction as their change: a reminder saved schedules its notification, a device
 * registered joins the user's pending push notifications, a removed device or user cancels what
 * was pending for it. The engine supplies the implementation; until it does these are no-ops.
 */
export interface ReminderRow {
  readonly id: string;
  readonly userId: string;
  readonly appId: string;
  readonly date: Date;
  readonly title: string | null;
  readonly message: string;
  readonly url: string | null;
  readonly notifyOffset: number;
  readonly channels: readonly string[];
  readonly recurrence: string | null;
  readonly timezone: string | null;
  readonly nextFireAt: Date | null;
  /** A stored template its notifications render (src/templates/), pinned when the reminder was saved. */
  readonly template?: { readonly appId: string; readonly key: string; readonly version: number; readonly data: Readonly<Record<string, unknown>> } | null;
  /** A topic of the reminder's app: each occurrence is a broadcast to its subscribers (docs/audiences.md). */
  readonly topic?: string | null;
  /** A notification type of the reminder's app. */
  readonly type?: string | null;
}

export interface DeviceRow {
  readonly id: string;
  readonly userId: string;
  readonly appId: string;
  readonly platform: Platform;
  readonly token: string;
}

/**
 * Wake-ups asked for inside a transaction and sent once it has committed (src/db/wakeup.ts,
 * `AfterCommit`: a NOTIFY inside the transaction would make concurrent writers commit one at a
 * time). A hook given one asks it instead of notifying in the transaction.
 */
export interface Wakeups {
  deliveriesDue(at: Date): void;
  remindersDue(at: Date): void;
  digestsDue(at: Date): void;
  broadcastsDue(at: Date): void;
}

/** What a reminder save tells the hook beside the row. */
export interface ReminderSave {
  /** Where to ask for wake-ups after commit (else NOTIFY in the transaction). */
  readonly wake?: Wakeups;
  /** The reminder was created in this transaction: it has no occurrences to cancel yet. */
  readonly created?: boolean;
}

export interface DomainHooks {
  reminderSaved(client: PoolClient, reminder: ReminderRow, save?: ReminderSave): Promise<void>;
  reminderDeleted(client: PoolClient, reminderId: string, userId: string): Promise<void>;
  deviceRegistered(client: PoolClient, device: DeviceRow, wake?: Wakeups): Promise<void>;
  deviceRemoved(client: PoolClient, deviceId: string, userId: string): Promise<void>;
  userDeleted(client: PoolClient, userId: string): Promise<void>;
  /**
   * Optional check of a new device's token with its provider (FCM `validate_only`, the old NestJS system's
   * dry run). Returns a reason when the provider rejects the token; called outside transactions.
   */
  validateDevice?(device: Omit<DeviceRow, 'id'>): Promise<string | undefined>;
}

export const NO_HOOKS: DomainHooks = {
  async reminderSaved() {},
  async reminderDeleted() {},
  async deviceRegistered() {},
  async deviceRemoved() {},
  async userDeleted() {},
};
