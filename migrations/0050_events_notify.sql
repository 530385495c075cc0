-- The event relay (src/relay/) LISTENs on herald_events and publishes new outbox rows at once
-- instead of waiting for its timer. One NOTIFY per inserting statement, not per row: a bulk
-- insert of 500 events wakes the relay once, and identical notifications within a transaction
-- are folded into one by PostgreSQL anyway.
CREATE FUNCTION herald_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('herald_events', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER events_notify_relay
  AFTER INSERT ON events
  FOR EACH STATEMENT
  EXECUTE FUNCTION herald_events_notify();
