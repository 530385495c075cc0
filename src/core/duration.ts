/**
 * Durations as the API writes them: a whole number and a unit, `"30s"`, `"15m"`, `"1h"`, `"7d"`.
 * One parser for every timing rule (fallback steps, digest windows, cap periods), so the same
 * text means the same time everywhere. A day is 24 hours here: rules that must follow the
 * wall clock across a DST change work with local times (src/core/time-zone.ts), not durations.
 * Written here rather than taken from `ms`: that package also reads "1.5 hours" and "-2m", and
 * the API takes one strict form, the same one its schemas check with DURATION_PATTERN.
 */

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** The pattern for schemas (TypeBox/JSON Schema), so the edge refuses what parseDuration would. */
export const DURATION_PATTERN = '^[0-9]{1,6}[smhd]$';

/** The longest duration a rule may name: a year. */
export const MAX_DURATION_MS = 366 * UNIT_MS.d;

/** Milliseconds of `"15m"`; undefined when the text is not a duration or is over a year. */
export function parseDuration(text: string): number | undefined {
  const m = /^([0-9]{1,6})([smhd])$/.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return ms <= MAX_DURATION_MS ? ms : undefined;
}

/** A duration in milliseconds written back the way the API takes it, in the largest exact unit. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    if (ms > 0 && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}
