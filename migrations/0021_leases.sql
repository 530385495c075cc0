-- In-flight deliveries by the worker that holds them: lets a live worker find rows held by a
-- worker that died and release them at once, instead of waiting for their lease to end.
CREATE INDEX deliveries_leased ON deliveries (locked_by) WHERE status = 'sending';
