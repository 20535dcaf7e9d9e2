-- Scale-out on PostgreSQL (issue #17). (Keep the PostgreSQL 0033 in step; the schema_parity
-- test compares them.)

-- The components themselves, by content (see the PostgreSQL migration). A single SQLite
-- node keeps them too, so that a database copied to another machine carries its plugins.
-- SQLite has no NOTIFY: one node needs none, and the CLI's changes are picked up by the
-- server's poll.
CREATE TABLE plugin_components (
    digest     TEXT NOT NULL PRIMARY KEY,
    bytes      BLOB NOT NULL,
    size_bytes BIGINT NOT NULL CHECK (size_bytes >= 0),
    stored_at  BIGINT NOT NULL
);
