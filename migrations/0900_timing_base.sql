-- Timing rules (docs/timing.md): each delivery records the rule that decided its time, and a
-- frequency cap can drop a delivery (status capped, final like cancelled).
ALTER TABLE deliveries ADD COLUMN deferred_by text
  CHECK (deferred_by IN ('quiet-hours', 'cap', 'digest', 'local-time'));

ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
  CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'expired', 'cancelled', 'capped'));
