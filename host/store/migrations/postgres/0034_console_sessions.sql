-- The browser console's sign-ins (issue #18). (Keep the SQLite 0034 in step; the
-- schema_parity test compares them.)

-- A session is a random token the browser keeps in an HttpOnly cookie; only its sha256 is
-- stored. It acts as the API key it was opened with, which is checked on every request, so a
-- revoked key ends its sessions; signing out ends one at once. Expired and ended sessions are
-- deleted as new ones open.
CREATE TABLE console_sessions (
    token_hash TEXT NOT NULL PRIMARY KEY,
    key_id     BIGINT NOT NULL REFERENCES api_keys (id),
    opened_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX console_sessions_by_key ON console_sessions (key_id, opened_at);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
