/** Every text the component shows or announces; assign `element.strings` for another language. */
export interface InboxStrings {
  heading: string;
  bellLabel(unread: number): string;
  markRead: string;
  markReadLabel(title: string): string;
  markAllRead: string;
  /** Read before an unread item's title by screen readers. */
  unread: string;
  announceNew(title: string): string;
  announceAllRead: string;
  loading: string;
  empty: string;
  error: string;
  retry: string;
  loadMore: string;
}

export const STRINGS: InboxStrings = {
  heading: 'Notifications',
  bellLabel: (unread) => (unread === 0 ? 'Notifications' : `Notifications, ${unread} unread`),
  markRead: 'Mark read',
  // Starts with the visible text, so speech input ("click Mark read") finds it (WCAG 2.5.3).
  markReadLabel: (title) => (title ? `Mark read: ${title}` : 'Mark read'),
  markAllRead: 'Mark all read',
  unread: 'Unread:',
  announceNew: (title) => `New notification: ${title}`,
  announceAllRead: 'All notifications marked read',
  loading: 'Loading…',
  empty: 'You are all caught up.',
  error: 'Notifications could not be loaded.',
  retry: 'Try again',
  loadMore: 'Show older',
};

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 31_536_000],
  ['month', 2_592_000],
  ['week', 604_800],
  ['day', 86_400],
  ['hour', 3_600],
  ['minute', 60],
];

/** "5 minutes ago" in the page's language (Intl; nothing to bundle). */
export function relativeTime(iso: string, now = Date.now()): string {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const format = new Intl.RelativeTimeFormat(document.documentElement.lang || undefined, { numeric: 'auto' });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return format.format(Math.trunc(seconds / size), unit);
  }
  return format.format(0, 'second'); // "now"
}
