-- Installed plugin versions keyed by owner, name and version, so that two owners can install
-- the same component (SQLite; keep the PostgreSQL 0012 in step). Replaces the digest-keyed plugins table.
CREATE TABLE plugin_versions (
    owner        INTEGER NOT NULL REFERENCES partners (id),
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    digest       TEXT NOT NULL,
    world        TEXT NOT NULL,
    manifest     TEXT NOT NULL,
    installed_at INTEGER NOT NULL,
    PRIMARY KEY (owner, name, version)
);
INSERT INTO plugin_versions (owner, name, version, digest, world, manifest, installed_at)
    SELECT owner, name, version, digest, world, manifest, installed_at FROM plugins;
DROP TABLE plugins;
