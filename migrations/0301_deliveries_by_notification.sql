-- A notification's deliveries in id order: the paged list of a broadcast's deliveries
-- (GET /v1/notifications/{id}/deliveries?cursor=) walks this index from the cursor instead of
-- sorting a million rows per page. It replaces the index on notification_id alone, so fan-out
-- maintains no more indexes than before.
CREATE INDEX deliveries_notification_id ON deliveries (notification_id, id);
DROP INDEX deliveries_notification;
