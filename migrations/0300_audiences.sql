-- Audiences (docs/audiences.md): topics and their subscribers, broadcasts fanned out in chunks
-- from a durable cursor, notification types with per-user, per-channel preferences, and the
-- one-click unsubscribe links already used. Everything a user owns here is keyed by
-- (app_id, user_id) so erasing a user of an app is one DELETE per table.

CREATE TABLE topics (
  app_id          text NOT NULL,
  key             text NOT NULL,
  name            text,
  description     text,
  self_subscribe  boolean NOT NULL DEFAULT false,  -- end users may (un)subscribe themselves
  subscribers     bigint NOT NULL DEFAULT 0,       -- kept by the triggers below
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, key)
);

CREATE TABLE topic_subscriptions (
  app_id      text NOT NULL,
  topic_key   text NOT NULL,
  user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, topic_key, user_id),      -- also the fan-out's walk in user id order
  FOREIGN KEY (app_id, topic_key) REFERENCES topics (app_id, key) ON DELETE CASCADE
);
CREATE INDEX topic_subscriptions_user ON topic_subscriptions (user_id, app_id);

-- The subscriber count of a topic, kept per statement (one UPDATE per bulk call, whatever its
-- size) so listing topics never counts a million rows; cascades from deleted users count too.
CREATE FUNCTION herald_topic_subscribers_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE topics t SET subscribers = t.subscribers + n.c
    FROM (SELECT app_id, topic_key, count(*) AS c FROM added GROUP BY app_id, topic_key) n
   WHERE t.app_id = n.app_id AND t.key = n.topic_key;
  RETURN NULL;
END
$$;
CREATE FUNCTION herald_topic_subscribers_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE topics t SET subscribers = greatest(t.subscribers - n.c, 0)
    FROM (SELECT app_id, topic_key, count(*) AS c FROM removed GROUP BY app_id, topic_key) n
   WHERE t.app_id = n.app_id AND t.key = n.topic_key;
  RETURN NULL;
END
$$;
CREATE TRIGGER topic_subscriptions_added AFTER INSERT ON topic_subscriptions
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION herald_topic_subscribers_added();
CREATE TRIGGER topic_subscriptions_removed AFTER DELETE ON topic_subscriptions
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION herald_topic_subscribers_removed();

-- Types of notification an app sends (security, marketing, ...): default channels and whether
-- the type is required (ignores opt-outs).
CREATE TABLE notification_types (
  app_id       text NOT NULL,
  key          text NOT NULL,
  name         text,
  description  text,
  required     boolean NOT NULL DEFAULT false,
  channels     jsonb NOT NULL DEFAULT '{}',       -- {"email": false, ...}; absent = on
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, key)
);

-- A user's choices per type and channel ({"email": false}); absent = the type's default.
CREATE TABLE user_type_preferences (
  app_id      text NOT NULL,
  user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  type_key    text NOT NULL,
  channels    jsonb NOT NULL DEFAULT '{}',
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, user_id, type_key),
  FOREIGN KEY (app_id, type_key) REFERENCES notification_types (app_id, key) ON DELETE CASCADE
);

-- A notification's type and the type's rule as it was when the notification was created
-- ({required, channels}): fan-out decides with it, whatever happens to the type later.
ALTER TABLE notifications ADD COLUMN type text;
ALTER TABLE notifications ADD COLUMN type_rule jsonb;

-- Does a user want this channel? `prefs` = users.preferences (the per-channel switches),
-- `chosen` = the user's choices for the notification's type, `rule` = the type's rule (null: no
-- type). A required type goes out on every channel its defaults leave on, whatever the user
-- chose. One SQL expression, so the planner inlines it into each fan-out statement.
CREATE FUNCTION herald_wants(prefs jsonb, chosen jsonb, rule jsonb, channel text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN rule IS NULL THEN (prefs -> 'channels' -> channel) IS DISTINCT FROM 'false'::jsonb
    WHEN (rule ->> 'required')::boolean THEN COALESCE((rule -> 'channels' ->> channel)::boolean, true)
    ELSE (prefs -> 'channels' -> channel) IS DISTINCT FROM 'false'::jsonb
         AND COALESCE((chosen ->> channel)::boolean, (rule -> 'channels' ->> channel)::boolean, true)
  END
$$;

-- A broadcast (to a topic or to every user) is fanned out in the background, chunk by chunk:
-- each chunk inserts the deliveries of the next users after `cursor` and moves the cursor in the
-- same transaction, so a crash repeats at most the chunk that did not commit, never a recipient.
-- The audience is who had subscribed (or existed) at audience_at, the moment fan-out began.
CREATE TABLE broadcasts (
  notification_id  text PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
  app_id           text NOT NULL,
  kind             text NOT NULL CHECK (kind IN ('topic', 'all')),
  topic_key        text,
  status           text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'running', 'complete', 'cancelled')),
  start_at         timestamptz NOT NULL,          -- the notification's send time
  audience_at      timestamptz,
  recipients       bigint,                        -- audience size when fan-out began
  cursor           text,                          -- last user id fanned out
  fanned_out       bigint NOT NULL DEFAULT 0,     -- recipients walked so far
  deliveries       bigint NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz
);
CREATE INDEX broadcasts_open ON broadcasts (start_at) WHERE status IN ('waiting', 'running');

-- One-click unsubscribe links (RFC 8058) that were used: each works once.
CREATE TABLE unsubscribe_uses (
  nonce       text PRIMARY KEY,
  app_id      text NOT NULL,
  user_id     text NOT NULL,
  type_key    text NOT NULL,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX unsubscribe_uses_user ON unsubscribe_uses (app_id, user_id);
