-- Back to a B-tree for a user's deliveries, keyed (user_id, id) so that every entry's key is its
-- own. The hash index of migration 1030 keeps all of one user's entries in one bucket, and an
-- insertion walks that bucket's chain of overflow pages to its end: each claim and each outcome
-- inserts a new entry (neither is a heap-only update), so a user with many deliveries (one
-- notification to 100,000 devices of one user, a webhook user) made every claim and outcome
-- slower as the user's rows grew: with 50,000 rows of one user, 67.6 µs of PostgreSQL CPU per
-- claimed and recorded delivery against 33.4 with this index. A B-tree finds the
-- place of a new entry in a few pages whatever the number of equal user ids; for users with few
-- rows it costs 1–3 µs per delivery more than the hash index did (docs/performance.md, "Where a
-- delivery's PostgreSQL time goes"). Lookups by user stay equality look-ups (erasure, a user's
-- broadcasts).
CREATE INDEX deliveries_user_btree ON deliveries (user_id, id);
DROP INDEX deliveries_user;
ALTER INDEX deliveries_user_btree RENAME TO deliveries_user;
