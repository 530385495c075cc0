-- The retention pass removes the frequency-cap ledger's rows that no cap window can reach any more
-- (src/retention/purge.ts), instead of every send doing it for its users. It finds them by age:
-- a BRIN index, since rows are written in time order and it costs the insert next to nothing.
CREATE INDEX cap_usage_sent ON cap_usage USING brin (sent_at);
