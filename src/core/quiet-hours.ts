import { HeraldError } from '../errors/index.ts';

/**
 * Quiet hours (docs/timing.md): a daily window, in the recipient's zone, in which push and e-mail
 * wait. The window runs from `start` to `end` ("HH:MM", or "HH:MM:SS" for tests that need a
 * window ending seconds from now); an end at or before the start means the next day, so 22:00–07:00
 * crosses midnight. `days` are the days a window starts on (absent: every day). The SQL function
 * herald_quiet_end (migrations/0901_timing_rules.sql) applies it in the fan-out statement.
 */
export const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface QuietHours {
  readonly start: string;
  readonly end: string;
  readonly days?: Weekday[] | undefined;
}

/**
 * A send window (docs/timing.md § Send windows) has the same shape, read the other way round: push
 * and e-mail go only inside it (herald_window_next, migrations/0903_send_windows.sql).
 */
export type SendWindow = QuietHours;

/** "HH:MM" or "HH:MM:SS", 00:00 to 23:59:59. */
export const CLOCK_PATTERN = '^([01]\\d|2[0-3]):[0-5]\\d(:[0-5]\\d)?$';

const seconds = (clock: string): number => {
  const [h, m, s] = clock.split(':').map(Number);
  return h! * 3600 + m! * 60 + (s ?? 0);
};

/** The rule the schema cannot say: a window (quiet hours or a send window) has a length. `field` names it in the error. */
export function checkQuietHours(q: QuietHours | null | undefined, field: string): void {
  if (!q) return;
  if (seconds(q.start) === seconds(q.end)) {
    throw new HeraldError('UNPROCESSABLE', `${field}: start and end are the same time; a window needs a length (22:00–07:00, 08:00–20:00)`, [
      { field: `${field}.end`, message: 'must differ from start' },
    ]);
  }
}
