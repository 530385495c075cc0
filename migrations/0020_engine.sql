-- Delivery engine: exactly-once creation keys for broker ingest, the notification's target app
-- (null = every app of the user's devices) and absolute expiry, and a partial index the fan-out
-- of late-registered devices uses.
ALTER TABLE notifications ADD COLUMN dedupe_key text UNIQUE;
ALTER TABLE notifications ADD COLUMN target_app text;
ALTER TABLE notifications ADD COLUMN expires_at timestamptz;
CREATE INDEX notifications_future_push ON notifications (send_at)
  WHERE cancelled_at IS NULL AND 'push' = ANY (channels);
