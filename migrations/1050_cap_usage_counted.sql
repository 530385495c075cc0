-- The frequency-cap ledger holds only sends that count (docs/timing.md, "Frequency caps"), so a
-- cap is decided from the ledger alone. Until now each check joined every ledger row of the user
-- and type in the window to its delivery, to leave out attempts that failed or wait for a retry:
-- one look-up in `deliveries` per earlier send, so a generous cap (hundreds per hour) made each
-- send dearer than the one before.
--
-- A delivery's ledger row is written when it passes its cap (its status is then `sending`); it
-- stops counting when that attempt ends in anything but `sent` (a retry, a failure, expiry, a
-- crash swept back to `pending`, a cancellation). This trigger removes the row at that moment. Its
-- WHEN clause is evaluated for each updated row without calling the function, so the delivery
-- loop's claims and `sent` outcomes pay nothing for it.
CREATE FUNCTION herald_cap_usage_uncount() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM cap_usage WHERE delivery_id = NEW.id;
  RETURN NULL;
END $$;

CREATE TRIGGER deliveries_cap_usage_uncount
  AFTER UPDATE OF status ON deliveries
  FOR EACH ROW
  WHEN (OLD.status = 'sending' AND NEW.status <> 'sent' AND NEW.status <> 'sending')
  EXECUTE FUNCTION herald_cap_usage_uncount();

-- Rows written before this migration whose attempt no longer counts.
DELETE FROM cap_usage c
 WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = c.delivery_id AND d.status IN ('sending', 'sent'));
