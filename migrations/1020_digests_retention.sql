-- Retention of digests (src/retention/purge.ts, docs/privacy.md): closed digests are purged by the
-- age since they closed, so the pass finds the old ones without reading the open ones.
CREATE INDEX digests_closed ON digests (closed_at) WHERE status = 'closed';
