-- Retention (src/retention/, docs/privacy.md): how long an app keeps finished notifications,
-- their deliveries, inbox items and events (null: HERALD_RETENTION_DAYS), and when the purge
-- runs next (one row: the due time is in the database, so any number of schedulers share it).
ALTER TABLE apps ADD COLUMN retention_days integer CHECK (retention_days > 0);

CREATE TABLE maintenance_runs (
  name         text PRIMARY KEY,
  next_run_at  timestamptz NOT NULL DEFAULT now(),
  last_run_at  timestamptz,
  last_result  jsonb
);
INSERT INTO maintenance_runs (name) VALUES ('retention');

-- Rows are written in time order, so block-range indexes find the old ones for almost nothing
-- (a few pages, no work on the insert path worth measuring).
CREATE INDEX notifications_created_brin ON notifications USING brin (created_at);
CREATE INDEX inbox_items_created_brin ON inbox_items USING brin (created_at);
CREATE INDEX events_created_brin ON events USING brin (created_at);
