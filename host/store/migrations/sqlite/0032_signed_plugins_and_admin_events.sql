-- Signed plugins and the administrative audit (issue #15).
-- (Keep the PostgreSQL 0032 in step; the schema_parity test compares them.)

-- Publisher keys the operator trusts: ed25519 public keys, named by their fingerprint (the
-- first 16 hex digits of the key's sha256). A key bound to an owner signs only that owner's
-- plugins. Revoked keys stay on record, for the versions they signed.
CREATE TABLE publisher_keys (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    public_key  TEXT NOT NULL UNIQUE,
    owner       INTEGER REFERENCES partners (id),
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    revoked_at  INTEGER
);

-- Whether versions bound at a scope must be signed by a trusted key. A scope with no row
-- requires nothing.
CREATE TABLE signature_policies (
    scope      TEXT NOT NULL PRIMARY KEY CHECK (scope IN ('platform', 'seller', 'partner')),
    required   INTEGER NOT NULL CHECK (required IN (0, 1)),
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);

-- The publisher key that signed a version: its fingerprint, or NULL for an unsigned one.
ALTER TABLE plugin_versions ADD COLUMN signer TEXT;

-- Who changed what: plugins, bindings, keys, publisher keys, signature policies and task
-- decisions. `partner` is the tenant the change concerns (NULL for the platform's own).
CREATE TABLE admin_events (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    partner    INTEGER,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX admin_events_by_partner ON admin_events (partner, id);
