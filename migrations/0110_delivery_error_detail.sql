-- What a provider or the network said about a delivery's last failure (a push service's answer
-- body, a connection error naming an address), kept apart from last_error: last_error is shown
-- to the delivery's end user (/v1/me), this column only to operators (API-key routes), since a
-- Web Push endpoint is any URL an end user chose and its answer must not be handed back to them.
ALTER TABLE deliveries ADD COLUMN last_error_detail text;
