-- Installed plugin versions keyed by owner, name and version, so that two owners can install
-- the same component (PostgreSQL; keep the SQLite 0012 in step). Replaces the digest-keyed plugins table.
CREATE TABLE plugin_versions (
    owner        BIGINT NOT NULL REFERENCES partners (id),
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    digest       TEXT NOT NULL,
    world        TEXT NOT NULL,
    manifest     TEXT NOT NULL,
    installed_at BIGINT NOT NULL,
    PRIMARY KEY (owner, name, version)
);
INSERT INTO plugin_versions (owner, name, version, digest, world, manifest, installed_at)
    SELECT owner, name, version, digest, world, manifest, installed_at FROM plugins;
DROP TABLE plugins;
