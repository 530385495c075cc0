-- Timing rules (docs/timing.md): quiet hours and local-time sends.
--
-- Quiet hours: a user's own window and the app's default, with the app's
-- default time zone for users who have none. {"start": "22:00", "end": "07:00", "days": ["MO", ...]}
-- (times "HH:MM" or "HH:MM:SS"; `days` are the days a window starts on; absent: every day).
ALTER TABLE users ADD COLUMN quiet_hours jsonb;
ALTER TABLE apps ADD COLUMN quiet_hours jsonb;
ALTER TABLE apps ADD COLUMN default_timezone text;

-- The notification's priority as given (high, normal, critical): `critical` goes through quiet
-- hours and caps. A column, so the fan-out statements need not read the payload for each row.
ALTER TABLE notifications ADD COLUMN priority text;

-- `sendAt: {localTime}`: the wall-clock time each recipient's delivery is due at in their zone
-- (send_at is then the earliest of those instants, the local time at UTC+14).
ALTER TABLE notifications ADD COLUMN local_time timestamp;

-- When a delivery due at `at` may go, if `at` falls inside the quiet hours `quiet` of zone `tz`:
-- the end of that window; NULL when `at` is outside every window (or there are none).
--
-- The windows that can contain `at` start on its local date or the day before (a window that
-- crosses midnight). Each window's start and end are wall-clock times of the zone turned into
-- instants with PostgreSQL's time zone database, and `at` is compared as an instant, so a window
-- over a DST change is as long as the clocks say: 22:00–07:00 is 8 hours on the spring-forward
-- night and 10 on the fall-back one. A start or end in the skipped hour is read as the time
-- after the gap (02:30 → 03:30); one in the repeated hour as its second occurrence (standard
-- time). A release that lands inside the next window (overlapping windows across a DST change)
-- waits for that one too, hence the few rounds.
CREATE FUNCTION herald_quiet_end(quiet jsonb, tz text, at timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  s      time := (quiet ->> 'start')::time;
  e      time := (quiet ->> 'end')::time;
  days   jsonb := quiet -> 'days';
  t      timestamptz := at;
  moved  boolean;
  first  date;
  d      date;
  w_from timestamptz;
  w_to   timestamptz;
BEGIN
  IF s IS NULL OR e IS NULL OR s = e OR at IS NULL THEN
    RETURN NULL;
  END IF;
  FOR round IN 1..3 LOOP
    moved := false;
    first := (t AT TIME ZONE tz)::date - 1;
    FOR i IN 0..1 LOOP
      d := first + i;
      CONTINUE WHEN days IS NOT NULL
        AND NOT days ? (ARRAY['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'])[extract(isodow FROM d)::int];
      w_from := (d + s) AT TIME ZONE tz;
      w_to := ((d + CASE WHEN e > s THEN 0 ELSE 1 END) + e) AT TIME ZONE tz;
      IF w_from <= t AND t < w_to THEN
        t := w_to;
        moved := true;
      END IF;
    END LOOP;
    EXIT WHEN NOT moved;
  END LOOP;
  RETURN CASE WHEN t = at THEN NULL ELSE t END;
END
$$;
