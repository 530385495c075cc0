/** An inbox item as the API shows it, and the row it is read from. */
export interface InboxItem {
  readonly id: string;
  readonly notificationId: string | null;
  readonly title: string | null;
  readonly body: string | null;
  readonly data: Record<string, unknown>;
  readonly url: string | null;
  readonly readAt: string | null;
  readonly createdAt: string;
}

export interface InboxRow {
  id: string;
  notification_id: string | null;
  title: string | null;
  body: string | null;
  data: Record<string, unknown>;
  url: string | null;
  read_at: Date | null;
  created_at: Date;
}

export const toItem = (r: InboxRow): InboxItem => ({
  id: r.id,
  notificationId: r.notification_id,
  title: r.title,
  body: r.body,
  data: r.data,
  url: r.url,
  readAt: r.read_at?.toISOString() ?? null,
  createdAt: r.created_at.toISOString(),
});
