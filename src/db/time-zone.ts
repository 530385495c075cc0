import { HeraldError } from '../errors/index.ts';
import { isValidTimeZone } from '../core/time-zone.ts';
import type { Queryable } from './pool.ts';

// Zone names are few; each is asked about once per process.
const known = new Map<string, boolean>();

/**
 * Whether PostgreSQL's time zone database knows `zone`. The timing rules turn wall-clock times
 * into instants in SQL (docs/timing.md), so a zone stored for a user or an app must be one the
 * database can read as well as one the runtime's ICU can: a name only one of them knows would
 * fail the fan-out statement of every notification to that user.
 */
export async function databaseKnowsZone(db: Queryable, zone: string): Promise<boolean> {
  let ok = known.get(zone);
  if (ok === undefined) {
    try {
      await db.query(`SELECT now() AT TIME ZONE $1`, [zone]);
      ok = true;
    } catch (err) {
      // 22023 invalid_parameter_value: "time zone ... not recognized"; anything else is not an answer.
      if ((err as { code?: string }).code !== '22023') throw err;
      ok = false;
    }
    if (known.size > 10_000) known.clear();
    known.set(zone, ok);
  }
  return ok;
}

/** 422 INVALID_TIMEZONE naming `field` unless both the runtime and the database know `zone`. */
export async function checkZone(db: Queryable, zone: string | null | undefined, field: string): Promise<void> {
  if (!zone) return;
  if (isValidTimeZone(zone) && (await databaseKnowsZone(db, zone))) return;
  throw new HeraldError('INVALID_TIMEZONE', `${field.replace(/^body\./, '')}: "${zone}" is not an IANA time zone (e.g. Europe/Berlin)`, [{ field, message: 'not an IANA time zone' }]);
}
