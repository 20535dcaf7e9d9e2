-- Least privilege for API keys and verification codes kept per partner (issue #15).
-- (Keep the SQLite 0031 in step; the schema_parity test compares them.)

-- A key may expire, and records when it was last used (written at most once a minute).
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
-- The key that made it (NULL for a first key: the demo's, the console's, an invitation's):
-- whoever held an ancestor could act with it, so four eyes looks along this line.
ALTER TABLE api_keys ADD COLUMN parent_key BIGINT REFERENCES api_keys (id);
-- The key an escalated action was asked with: whoever made or held its line may have asked
-- through it, and decides nothing asked with it (four eyes). NULL for tasks from before.
ALTER TABLE approval_tasks ADD COLUMN requested_key BIGINT;

-- A verification code belongs to the partner that asked for it (rule 25): another partner's
-- request for the same phone no longer replaces it. Wrong guesses count against the code,
-- which dies at the limit; a day's wrong tries are capped across codes. Codes pending at the
-- upgrade (valid ten minutes) are dropped.
DROP TABLE phone_verifications;
CREATE TABLE phone_verifications (
    partner    BIGINT NOT NULL REFERENCES partners (id),
    phone      TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    sent_at    BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- Wrong tries since `day_started_at`, across resends: a new code does not buy more
    -- guesses within the day.
    day_attempts   BIGINT NOT NULL DEFAULT 0 CHECK (day_attempts >= 0),
    day_started_at BIGINT NOT NULL,
    PRIMARY KEY (partner, phone)
);
