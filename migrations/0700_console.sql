-- The console's numbers, kept cheap on a deliveries table of millions.
--
-- delivery_minutes: outcomes per minute, channel, provider and outcome; sent deliveries also by a
-- lateness bucket (how long after its due time each was sent), so percentiles come from a
-- histogram. It is folded from the outcome events the outcome writer already appends
-- (notification:sent|failed|expired, each naming its delivery, channel and provider), read by
-- the events primary key from `folded_id` on: the deliveries table gets no index for it, and its
-- writes cost nothing more. One process at a time folds (it holds the state row's lock, others
-- skip); readers add the few events after `folded_id`, so the overview is live.
CREATE TABLE delivery_minutes (
  minute           timestamptz NOT NULL,
  channel          text NOT NULL,
  provider         text NOT NULL,
  outcome          text NOT NULL,                -- sent | failed | expired
  lateness_bucket  smallint NOT NULL,            -- index into the console's lateness bounds; 0 unless sent
  count            bigint NOT NULL,
  PRIMARY KEY (minute, channel, provider, outcome, lateness_bucket)
);

CREATE TABLE delivery_minutes_state (
  id         boolean PRIMARY KEY DEFAULT true CHECK (id),
  folded_id  bigint NOT NULL                     -- events up to this id are in delivery_minutes
);
-- From the start: the first folds catch up with the last days of events already stored.
INSERT INTO delivery_minutes_state (folded_id) VALUES (0);

-- Dead letters newest first (keyset pages), a small index: only failed rows are in it.
CREATE INDEX deliveries_dead_letters ON deliveries (updated_at DESC, id DESC) WHERE status = 'failed';

-- User search by the start of an id or e-mail address, in byte order ("C"): LIKE 'abc%' is then
-- an index range, and the same index gives the keyset order of the pages.
CREATE INDEX users_id_c ON users (id COLLATE "C");
CREATE INDEX users_email_c ON users ((lower(email)) COLLATE "C", id COLLATE "C") WHERE email IS NOT NULL;
