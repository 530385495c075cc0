-- Quiet hours in one place for every statement that sets a due time (docs/timing.md).

-- Whether quiet hours hold back a delivery on `channel` of a notification with this priority and
-- type rule: push and e-mail (the channels that interrupt a person) wait; inbox items and
-- webhooks do not; a critical notification and a required type go through. One SQL expression,
-- so the planner inlines it.
CREATE FUNCTION herald_quiet_applies(channel text, priority text, type_rule jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT channel IN ('push', 'email') AND priority IS DISTINCT FROM 'critical'
     AND (type_rule ->> 'required') IS DISTINCT FROM 'true'
$$;

-- When a delivery of notification `nid` to user `uid` on `channel`, due at `at`, is held by the
-- user's quiet hours (theirs, else their app's, in their zone, else the app's, else UTC): the
-- window's end; NULL when it may go at `at`. The fan-out statement works this out inline for many
-- rows at once (src/notifications/fan-out.ts); this is for one row whose time is moved later
-- (a fallback step brought forward when the step before it failed).
CREATE FUNCTION herald_quiet_release(nid text, uid text, channel text, at timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT herald_quiet_end(COALESCE(u.quiet_hours, a.quiet_hours), COALESCE(u.timezone, a.default_timezone, 'UTC'), at)
    FROM notifications n
    LEFT JOIN users u ON u.id = uid
    LEFT JOIN apps a ON a.id = n.app_id
   WHERE n.id = nid AND herald_quiet_applies(channel, n.priority, n.type_rule)
     AND COALESCE(u.quiet_hours, a.quiet_hours) IS NOT NULL
$$;
