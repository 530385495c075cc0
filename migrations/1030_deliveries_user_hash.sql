-- A user's deliveries are looked up by equality only (erasure: DELETE … WHERE user_id = $1), so
-- the index behind it need not be a B-tree. Every delivery writes a new entry into each of its
-- table's indexes twice more as it is claimed and recorded (both updates change indexed columns,
-- so neither is a heap-only update), and in the B-tree on user_id, where one user's many rows
-- share a key, those insertions cost about a quarter of the PostgreSQL CPU of a claim and an
-- outcome together (docs/performance.md, "Where a delivery's PostgreSQL time goes"). A hash
-- index answers the same lookups and takes an entry for a fraction of that.
CREATE INDEX deliveries_user_hash ON deliveries USING hash (user_id);
DROP INDEX deliveries_user;
ALTER INDEX deliveries_user_hash RENAME TO deliveries_user;
