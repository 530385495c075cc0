-- Send windows (docs/timing.md § Send windows): the hours in which push and e-mail may go at all,
-- e.g. weekdays 08:00–20:00 in the recipient's zone, per user with an app default. Quiet hours say
-- when not to interrupt; a send window says when to, which a daily quiet window cannot (a whole
-- weekend). {"start": "08:00", "end": "20:00", "days": ["MO", ...]}, read as quiet hours are:
-- "HH:MM" or "HH:MM:SS", an end at or before the start is the next day, `days` the days a window
-- opens on (absent: every day).
ALTER TABLE users ADD COLUMN send_window jsonb;
ALTER TABLE apps ADD COLUMN send_window jsonb;

-- A delivery moved to the opening of its recipient's send window says so.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_deferred_by_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_deferred_by_check
  CHECK (deferred_by IN ('quiet-hours', 'send-window', 'cap', 'digest', 'local-time'));

-- When a delivery due at `at` may go under the send window `win` of zone `tz`: `at` itself when
-- it falls inside a window, else the next window's opening; NULL when there is no usable window.
--
-- The windows considered open on the local date of `at` minus one (a window across midnight that
-- opened yesterday) up to a week later, which holds the next opening whatever `days` says. Each
-- opening and close is a wall-clock time of the zone turned into an instant with PostgreSQL's
-- time zone database for that date, as herald_quiet_end does (migration 0901): a window is as
-- long as the clocks say, an opening in the skipped hour is the time after the gap, one in the
-- repeated hour its second pass.
CREATE FUNCTION herald_window_next(win jsonb, tz text, at timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  s      time := (win ->> 'start')::time;
  e      time := (win ->> 'end')::time;
  days   jsonb := win -> 'days';
  first  date;
  d      date;
  w_from timestamptz;
  w_to   timestamptz;
  best   timestamptz;
BEGIN
  IF s IS NULL OR e IS NULL OR s = e OR at IS NULL THEN
    RETURN NULL;
  END IF;
  first := (at AT TIME ZONE tz)::date - 1;
  FOR i IN 0..8 LOOP
    d := first + i;
    CONTINUE WHEN days IS NOT NULL
      AND NOT days ? (ARRAY['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'])[extract(isodow FROM d)::int];
    w_from := (d + s) AT TIME ZONE tz;
    w_to := ((d + CASE WHEN e > s THEN 0 ELSE 1 END) + e) AT TIME ZONE tz;
    IF w_from <= at AND at < w_to THEN
      RETURN at;
    END IF;
    IF w_from > at AND (best IS NULL OR w_from < best) THEN
      best := w_from;
    END IF;
  END LOOP;
  RETURN best;
END
$$;

-- The first instant at or after `at` that is outside the quiet hours `quiet` and inside the send
-- window `win` (either may be NULL), in zone `tz`. Each rule can move the time into the other's
-- way (quiet until 09:00, a window opening at 08:00), so they take turns until neither moves it;
-- a few rounds settle every pair of daily windows.
CREATE FUNCTION herald_window_due(quiet jsonb, win jsonb, tz text, at timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  t    timestamptz := at;
  next timestamptz;
BEGIN
  FOR round IN 1..4 LOOP
    next := COALESCE(herald_quiet_end(quiet, tz, t), t);
    next := COALESCE(herald_window_next(win, tz, next), next);
    EXIT WHEN next = t;
    t := next;
  END LOOP;
  RETURN t;
END
$$;

-- herald_quiet_release (migration 0902) for send windows: when a delivery of notification `nid`
-- to user `uid` on `channel`, moved to `at` (a fallback step brought forward), may go under the
-- user's send window and quiet hours; NULL when no send window applies to it.
CREATE FUNCTION herald_window_release(nid text, uid text, channel text, at timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT herald_window_due(COALESCE(u.quiet_hours, a.quiet_hours), COALESCE(u.send_window, a.send_window),
                           COALESCE(u.timezone, a.default_timezone, 'UTC'), at)
    FROM notifications n
    LEFT JOIN users u ON u.id = uid
    LEFT JOIN apps a ON a.id = n.app_id
   WHERE n.id = nid AND herald_quiet_applies(channel, n.priority, n.type_rule)
     AND COALESCE(u.send_window, a.send_window) IS NOT NULL
$$;
