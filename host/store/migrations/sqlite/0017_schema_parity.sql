-- Brings SQLite in line with the PostgreSQL schema (keep the PostgreSQL 0017 in step; the
-- schema_parity test compares the two catalogs):
-- * partners.frozen is 0 or 1, as PostgreSQL has checked since its 0001;
-- * invitations.token and phone_verifications.phone are NOT NULL: SQLite, unlike PostgreSQL,
--   lets NULL into a PRIMARY KEY that is not an INTEGER PRIMARY KEY.
-- SQLite cannot add either constraint to an existing column, so each table is rebuilt: copied
-- aside, dropped, created anew and filled with the same rows and ids.
--
-- sqlx runs this in a transaction, where PRAGMA foreign_keys cannot be turned off. Dropping
-- partners leaves its children's rows without a parent until the same ids come back;
-- defer_foreign_keys lets that wait for COMMIT, which fails (rolling everything back) if any
-- row is still without a parent. It ends with the transaction. No foreign key to partners has
-- an ON DELETE action, so the drop deletes nothing else. A row breaking a new constraint
-- (frozen 2, a NULL key) makes the migration fail whole: fix the row, then restart.
PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE partners_0016 AS SELECT * FROM partners;
DROP TABLE partners;
CREATE TABLE partners (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('solution-provider', 'distributor', 'reseller', 'seller')),
    name        TEXT NOT NULL,
    distributor INTEGER REFERENCES partners (id),
    country     TEXT NOT NULL,
    frozen      INTEGER NOT NULL DEFAULT 0 CHECK (frozen IN (0, 1))
);
INSERT INTO partners (id, kind, name, distributor, country, frozen)
    SELECT id, kind, name, distributor, country, frozen FROM temp.partners_0016;
DROP TABLE temp.partners_0016;

CREATE TEMP TABLE invitations_0016 AS SELECT * FROM invitations;
DROP TABLE invitations;
CREATE TABLE invitations (
    token       TEXT NOT NULL PRIMARY KEY,
    partner     INTEGER NOT NULL REFERENCES partners (id),
    customer    INTEGER NOT NULL REFERENCES customers (id),
    channel     TEXT NOT NULL CHECK (channel IN ('online', 'offline')),
    created_at  INTEGER NOT NULL,
    accepted_at INTEGER
);
INSERT INTO invitations (token, partner, customer, channel, created_at, accepted_at)
    SELECT token, partner, customer, channel, created_at, accepted_at FROM temp.invitations_0016;
DROP TABLE temp.invitations_0016;

CREATE TEMP TABLE phone_verifications_0016 AS SELECT * FROM phone_verifications;
DROP TABLE phone_verifications;
CREATE TABLE phone_verifications (
    phone      TEXT NOT NULL PRIMARY KEY,
    code_hash  TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
INSERT INTO phone_verifications (phone, code_hash, expires_at)
    SELECT phone, code_hash, expires_at FROM temp.phone_verifications_0016;
DROP TABLE temp.phone_verifications_0016;
