import { IANAZone } from 'luxon';

// luxon checks a zone by building an Intl.DateTimeFormat each time (~0.1 ms); zone names are few.
const zoneValidity = new Map<string, boolean>();

/** An IANA zone name (`Europe/Berlin`) that users and reminders may name. */
export function isValidTimeZone(zone: string): boolean {
  let valid = zoneValidity.get(zone);
  if (valid === undefined) {
    valid = IANAZone.isValidZone(zone);
    if (zoneValidity.size > 10_000) zoneValidity.clear();
    zoneValidity.set(zone, valid);
  }
  return valid;
}
