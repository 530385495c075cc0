-- The console's numbers, kept cheap on a deliveries table of millions.
--
-- delivery_minutes: outcomes per minute, channel, provider and outcome; sent deliveries also by a
-- lateness bucket (how long after its due time each was sent), so percentiles come from a
-- histogram. One process at a time folds finished outcomes into it (it holds the state row's
-- lock while it does, others skip); readers add the few outcomes newer than `folded_to` from the
-- index below, so the overview is live without scanning the table.
CREATE TABLE delivery_minutes (
  minute           timestamptz NOT NULL,
  channel          text NOT NULL,
  provider         text NOT NULL,
  outcome          text NOT NULL,                -- sent | failed | expired | cancelled
  lateness_bucket  smallint NOT NULL,            -- index into the console's lateness bounds; 0 unless sent
  count            bigint NOT NULL,
  PRIMARY KEY (minute, channel, provider, outcome, lateness_bucket)
);

CREATE TABLE delivery_minutes_state (
  id         boolean PRIMARY KEY DEFAULT true CHECK (id),
  folded_to  timestamptz NOT NULL                -- outcomes before this are in delivery_minutes
);
INSERT INTO delivery_minutes_state (folded_to) VALUES (now());

-- Finished deliveries by the time they finished: the fold and the live part of the overview read
-- a range of minutes of it. Rows enter it once, when they reach an outcome.
CREATE INDEX deliveries_outcomes ON deliveries (updated_at)
  WHERE status IN ('sent', 'failed', 'expired', 'cancelled');

-- Dead letters newest first (keyset pages), a small index: only failed rows are in it.
CREATE INDEX deliveries_dead_letters ON deliveries (updated_at DESC, id DESC) WHERE status = 'failed';

-- User search by the start of an id or e-mail address, in byte order ("C"): LIKE 'abc%' is then
-- an index range, and the same index gives the keyset order of the pages.
CREATE INDEX users_id_c ON users (id COLLATE "C");
CREATE INDEX users_email_c ON users ((lower(email)) COLLATE "C", id COLLATE "C") WHERE email IS NOT NULL;
