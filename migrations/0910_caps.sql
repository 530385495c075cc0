-- Frequency caps (docs/timing.md, "Frequency caps"): a notification type may cap how many of its
-- deliveries one user gets in a sliding window, on every channel or on one. The cap is decided
-- when a delivery is about to be sent (src/dispatch/cap-step.ts), since it depends on what was
-- actually sent.
ALTER TABLE notification_types ADD COLUMN cap jsonb;   -- {max, perSeconds, action, channel?}; null: no cap

-- The ledger a cap counts: one row per delivery that passed its cap, written (under a lock per
-- user and type) in the transaction that lets it through. It counts while its delivery is being
-- sent or was sent; an attempt that failed or is waiting for a retry has no say, and a delivery
-- that is sent again after a crash keeps its one row.
CREATE TABLE cap_usage (
  delivery_id  bigint PRIMARY KEY,
  app_id       text NOT NULL,
  user_id      text NOT NULL,
  type_key     text NOT NULL,
  channel      text NOT NULL,
  sent_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cap_usage_window ON cap_usage (app_id, user_id, type_key, sent_at);
