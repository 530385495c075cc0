-- Digests (docs/timing.md, "Digests"): notifications collected per user and key, delivered as
-- one notification that lists them when the digest's window closes. The collected notifications'
-- deliveries stay in the deliveries table, held (pending, never due, deferred_by 'digest'), until
-- the transaction that closes their digest marks them `digested` and creates the one notification
-- that replaces them: an item is never lost or delivered twice, whatever crashes.

-- A held delivery ends `digested` when its digest is delivered (final, like sent).
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
  CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'expired', 'cancelled', 'capped', 'digested'));

-- A per-type choice of the user: {"cadence": "hourly"} or {"cadence": "daily", "at": "09:00"}.
ALTER TABLE user_type_preferences ADD COLUMN digest jsonb;
CREATE INDEX user_type_preferences_digest ON user_type_preferences (app_id, type_key) WHERE digest IS NOT NULL;

CREATE TABLE digests (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  app_id           text NOT NULL,
  user_id          text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key              text NOT NULL,               -- the notification's digest.key, or type:<type key> for a preference
  status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  opened_at        timestamptz NOT NULL DEFAULT now(),
  closes_at        timestamptz NOT NULL,
  channels         text[] NOT NULL,             -- the first item's channels: the digest goes out on them
  template         jsonb,                       -- {key, version?} rendering the digest (else a built-in text)
  items            integer NOT NULL DEFAULT 0,
  notification_id  text,                        -- the notification that delivered it
  closed_at        timestamptz
);
-- One open digest per user and key: the first item opens it, later ones join it.
CREATE UNIQUE INDEX digests_open ON digests (app_id, user_id, key) WHERE status = 'open';
CREATE INDEX digests_due ON digests (closes_at) WHERE status = 'open';
CREATE INDEX digests_user ON digests (user_id);

CREATE TABLE digest_items (
  seq              bigint GENERATED ALWAYS AS IDENTITY,   -- the order items were collected in
  digest_id        bigint NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
  notification_id  text NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
  added_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (digest_id, notification_id)
);
CREATE INDEX digest_items_notification ON digest_items (notification_id);

-- When a digest a user chose for a type closes, if opened at `t`: the next full hour, or the next
-- `at` (default 09:00) of the user's wall clock. The local time is computed in the user's zone and
-- turned back into an instant with AT TIME ZONE, so a daily digest stays at 09:00 across DST
-- changes (23 or 25 hours apart on those days); a local time that does not exist on a spring-forward
-- day is read with the offset before the change, as PostgreSQL does.
CREATE FUNCTION herald_digest_closes_at(choice jsonb, tz text, t timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT CASE choice ->> 'cadence'
    WHEN 'hourly' THEN (date_trunc('hour', t AT TIME ZONE tz) + interval '1 hour') AT TIME ZONE tz
    ELSE (SELECT (CASE WHEN l.day + l.at > l.local THEN l.day + l.at ELSE l.day + 1 + l.at END) AT TIME ZONE tz
            FROM (SELECT t AT TIME ZONE tz AS local, (t AT TIME ZONE tz)::date AS day,
                         COALESCE(choice ->> 'at', '09:00')::time AS at) l)
  END
$$;
