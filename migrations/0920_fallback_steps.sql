-- Fallback chains (docs/timing.md § Fallback chains): a notification's `steps` as it was sent,
-- and on each delivery the step it belongs to and the condition under which it is not sent.
-- Step 0 is the notification's own fan-out; a later step's deliveries are made at once, pending
-- and due at the notification's time plus the step's `after`, so a chain survives a crash and
-- every worker can fire it. A constant default adds the column without rewriting the table.
ALTER TABLE notifications ADD COLUMN steps jsonb;

ALTER TABLE deliveries
  ADD COLUMN step smallint NOT NULL DEFAULT 0,
  ADD COLUMN step_unless text CHECK (step_unless IN ('delivered', 'read'));

-- The later steps still waiting, by notification and user: what a delivery recorded sent, or an
-- inbox item read, cancels. Small (only waiting fallbacks are in it), so the outcome statement
-- can look here for every delivery it records sent at next to no cost.
CREATE INDEX deliveries_pending_steps ON deliveries (notification_id, user_id) WHERE step > 0 AND status = 'pending';

-- Whether a notification's inbox item was read (the `unless: "read"` check when a step is due).
CREATE INDEX inbox_items_notification ON inbox_items (notification_id, user_id);
