-- Herald's schema. Ids are opaque text (UUIDv7 unless the caller names them, as with users and
-- apps), except the two append-heavy tables (events, deliveries) which use bigint identities.

CREATE TABLE api_keys (
  id            text PRIMARY KEY,
  name          text NOT NULL,
  key_hash      bytea NOT NULL UNIQUE,           -- sha256 of the whole key
  prefix        text NOT NULL,                   -- first characters, to recognise a key in lists
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);

CREATE TABLE apps (
  id            text PRIMARY KEY,
  name          text NOT NULL,
  settings      jsonb NOT NULL DEFAULT '{}',     -- non-secret settings (bundle id, key id, from, ...)
  secrets       bytea,                           -- AES-256-GCM sealed JSON of the credentials
  status        jsonb NOT NULL DEFAULT '{}',     -- per channel: credential problems a provider reported
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id            text PRIMARY KEY,
  email         text,
  name          text,
  timezone      text,
  locale        text,
  preferences   jsonb NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
  id              text PRIMARY KEY,
  user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  app_id          text NOT NULL DEFAULT 'default',
  platform        text NOT NULL CHECK (platform IN ('ios', 'android', 'web')),
  token           text NOT NULL,                 -- APNs hex token, FCM token, or Web Push endpoint
  subscription    jsonb,                         -- Web Push: {endpoint, keys: {p256dh, auth}}
  name            text,
  environment     text,                          -- APNs: production | development
  status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'invalid')),
  invalid_reason  text,
  invalidated_at  timestamptz,
  registered_at   timestamptz NOT NULL DEFAULT now(), -- last (re-)registration: APNs 410 timestamps compare to it
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (app_id, platform, token)
);
CREATE INDEX devices_user ON devices (user_id);

CREATE TABLE reminders (
  id             text PRIMARY KEY,
  user_id        text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  app_id         text NOT NULL DEFAULT 'default',
  date           timestamptz NOT NULL,
  title          text,
  message        text NOT NULL,
  url            text,
  notify_offset  integer NOT NULL DEFAULT 0,     -- minutes before `date`
  channels       text[] NOT NULL,
  recurrence     text,                           -- RFC 5545 RRULE, evaluated in `timezone`
  timezone       text,
  next_fire_at   timestamptz,                    -- null: nothing left to fire
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reminders_user ON reminders (user_id, created_at DESC);
CREATE INDEX reminders_due ON reminders (next_fire_at) WHERE next_fire_at IS NOT NULL;

-- Append-only event store and transactional outbox: a change and its event commit together;
-- the relay publishes rows with published_at IS NULL and then sets it.
CREATE TABLE events (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id       text,
  type          text NOT NULL,                   -- reminder:created, notification:sent, ...
  item_type     text NOT NULL,                   -- reminder, notification, device, ...
  item_id       text NOT NULL,
  data          jsonb NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz
);
CREATE INDEX events_user ON events (user_id, id);
CREATE INDEX events_unpublished ON events (id) WHERE published_at IS NULL;

CREATE TABLE idempotency_keys (
  caller         text NOT NULL,                  -- api key id or user id: keys are per caller
  key            text NOT NULL,
  method         text NOT NULL,
  path           text NOT NULL,
  request_hash   bytea NOT NULL,
  status_code    integer,                        -- null while the first request is in progress
  response_body  jsonb,
  locked_until   timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE notifications (
  id            text PRIMARY KEY,
  app_id        text NOT NULL DEFAULT 'default',
  user_ids      text[] NOT NULL DEFAULT '{}',
  reminder_id   text REFERENCES reminders (id) ON DELETE SET NULL,
  channels      text[] NOT NULL,
  payload       jsonb NOT NULL,                  -- title, body, data, url, apns, fcm, email, ...
  send_at       timestamptz NOT NULL,
  ttl_seconds   integer,
  cancelled_at  timestamptz,
  source        text,                            -- api, reminder, ingest:pubsub, ...
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_users ON notifications USING gin (user_ids);
CREATE INDEX notifications_reminder ON notifications (reminder_id) WHERE reminder_id IS NOT NULL;

-- The work queue. One row per notification x target. Workers claim rows whose run_at has come
-- (pending: the due time; sending: the lease end) with FOR UPDATE SKIP LOCKED.
CREATE TABLE deliveries (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  notification_id  text NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
  user_id          text,
  device_id        text,
  app_id           text NOT NULL DEFAULT 'default',
  channel          text NOT NULL,                -- push | email | webhook | inbox
  provider         text NOT NULL,                -- apns | fcm | webpush | email | webhook | inbox
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'expired', 'cancelled')),
  due_at           timestamptz NOT NULL,         -- when this attempt should start
  run_at           timestamptz NOT NULL,         -- due_at while pending, lease end while sending
  expires_at       timestamptz,
  attempts         integer NOT NULL DEFAULT 0,
  locked_by        text,
  last_error       text,
  provider_id      text,
  sent_at          timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_runnable ON deliveries (run_at) WHERE status IN ('pending', 'sending');
CREATE INDEX deliveries_notification ON deliveries (notification_id);
CREATE INDEX deliveries_device_pending ON deliveries (device_id) WHERE status = 'pending';

CREATE TABLE inbox_items (
  id               text PRIMARY KEY,
  user_id          text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  notification_id  text,
  delivery_id      bigint UNIQUE,                -- at-least-once delivery stores one item
  title            text,
  body             text,
  data             jsonb NOT NULL DEFAULT '{}',
  url              text,
  read_at          timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_items_user ON inbox_items (user_id, created_at DESC);
