-- A writer may take the relay's wake-up out of its transaction: with the transaction-local
-- setting herald.events_notify = 'off' the trigger does not NOTIFY, and the writer NOTIFYs
-- herald_events itself after commit, coalesced with other writers' (src/dispatch/wakeup.ts).
-- A NOTIFY inside a transaction holds the global notify lock through its commit flush, which
-- makes concurrent notifying writers commit one at a time.
CREATE OR REPLACE FUNCTION herald_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('herald.events_notify', true) IS DISTINCT FROM 'off' THEN
    PERFORM pg_notify('herald_events', '');
  END IF;
  RETURN NULL;
END
$$;
