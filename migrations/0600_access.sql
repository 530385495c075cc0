-- Scoped API keys, shared rate-limit counters, the actor of each event, and the apps a user
-- belongs to (what an app-limited key may see).

-- Keys made before scopes existed keep what they had: everything (`admin`).
ALTER TABLE api_keys
  ADD COLUMN scopes      text[] NOT NULL DEFAULT '{admin}',
  ADD COLUMN app_ids     text[],                       -- null: every app
  ADD COLUMN expires_at  timestamptz,
  ADD COLUMN created_by  text;                         -- key id that created it; null: CLI or HERALD_API_KEY

-- Every API process caches verified keys (and, briefly, unknown ones); a change to a key tells
-- them all at once.
CREATE FUNCTION herald_api_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('herald_api_keys', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
  RETURN NULL;
END $$;
CREATE TRIGGER api_keys_changed
  AFTER INSERT OR UPDATE OF revoked_at, scopes, app_ids, expires_at OR DELETE ON api_keys
  FOR EACH ROW EXECUTE FUNCTION herald_api_key_changed();

-- Fixed-window counters shared by every API process (per key, per end user, per client address
-- for failed authentication). Unlogged: after a crash the counters start again, which is harmless.
CREATE UNLOGGED TABLE rate_limits (
  bucket        text PRIMARY KEY,
  window_start  timestamptz NOT NULL,
  count         integer NOT NULL
);

-- Who acted: `key:<id>` or `user:<app>:<id>`; null for herald's own work (deliveries, reminders).
ALTER TABLE events ADD COLUMN actor text;
CREATE INDEX events_admin ON events (id)
  WHERE (item_type IN ('key', 'app', 'template', 'notification-type') OR type IN ('user:deleted', 'user:erased'));

-- The apps a user was created or touched in through an app-limited key; with their devices and
-- reminders this says which app-limited keys may see the user.
CREATE TABLE app_users (
  user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  app_id      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, app_id)
);

-- Erasure finds what a user left behind: their deliveries (also of notifications sent to many)
-- and the events they acted in.
CREATE INDEX deliveries_user ON deliveries (user_id);
CREATE INDEX events_user_actor ON events (actor) WHERE actor LIKE 'user:%';
