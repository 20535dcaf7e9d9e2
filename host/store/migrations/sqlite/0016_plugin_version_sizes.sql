-- The size of each installed version's component, for the per-owner quota of stored bytes,
-- and the digest looked up when a version is deleted: are its files still another version's?
-- (SQLite; keep the PostgreSQL 0016 in step.) Versions installed before count 0 bytes.
ALTER TABLE plugin_versions ADD COLUMN size_bytes INTEGER NOT NULL DEFAULT 0 CHECK (size_bytes >= 0);
CREATE INDEX plugin_versions_by_digest ON plugin_versions (digest);
