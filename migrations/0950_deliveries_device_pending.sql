-- Pending deliveries by device (a device removed or expired cancels its pending deliveries)
-- only ever look up a device id, so the index no longer holds the rows without one: every
-- e-mail, webhook and inbox delivery, i.e. every row of a broadcast to those channels, was one
-- more index entry written at fan-out time for nothing.
CREATE INDEX deliveries_device_pending_2 ON deliveries (device_id) WHERE status = 'pending' AND device_id IS NOT NULL;
DROP INDEX deliveries_device_pending;
ALTER INDEX deliveries_device_pending_2 RENAME TO deliveries_device_pending;
