-- Scale-out on PostgreSQL (issue #17). (Keep the SQLite 0033 in step; the schema_parity test
-- compares them.)

-- The components themselves, by content: every replica compiles from here the versions it
-- has not seen, so an upload received by one replica runs on all. One row per distinct
-- component, however many versions (of any owner) have the same bytes; removed with the last
-- version naming it.
CREATE TABLE plugin_components (
    digest     TEXT NOT NULL PRIMARY KEY,
    bytes      BYTEA NOT NULL,
    size_bytes BIGINT NOT NULL CHECK (size_bytes >= 0),
    stored_at  BIGINT NOT NULL
);

-- What replicas keep in memory changed: installed versions and bindings (versions, settings,
-- enablement, shadows, limits). Every committed change of a row, by any process (a replica,
-- the CLI, SQL by hand), notifies the channel `pchost_changes` at commit with the table's
-- name; replicas LISTEN and reload (docs/deploy.md). Per row, so that a statement changing
-- nothing (a refused deletion, an insert over quota) makes no replica reload; PostgreSQL
-- delivers one notice per transaction however many rows it changed. Key revocations and
-- policies need no notice: they are read from the database on every request.
CREATE FUNCTION pchost_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pchost_changes', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER plugin_versions_changed AFTER INSERT OR UPDATE OR DELETE ON plugin_versions
    FOR EACH ROW EXECUTE FUNCTION pchost_notify_change();
CREATE TRIGGER plugin_bindings_changed AFTER INSERT OR UPDATE OR DELETE ON plugin_bindings
    FOR EACH ROW EXECUTE FUNCTION pchost_notify_change();
