-- Least privilege for API keys and verification codes kept per partner (issue #15).
-- (Keep the PostgreSQL 0031 in step; the schema_parity test compares them.)

-- A key may expire, and records when it was last used (written at most once a minute).
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
-- The key that made it (NULL for a first key: the demo's, the console's, an invitation's):
-- whoever held an ancestor could act with it, so four eyes looks along this line.
ALTER TABLE api_keys ADD COLUMN parent_key INTEGER REFERENCES api_keys (id);

-- A verification code belongs to the partner that asked for it (rule 25): another partner's
-- request for the same phone no longer replaces it. Wrong guesses count against the code,
-- which dies at the limit. Codes pending at the upgrade (valid ten minutes) are dropped.
DROP TABLE phone_verifications;
CREATE TABLE phone_verifications (
    partner    INTEGER NOT NULL REFERENCES partners (id),
    phone      TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    sent_at    INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    PRIMARY KEY (partner, phone)
);
