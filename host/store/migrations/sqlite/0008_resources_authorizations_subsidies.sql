-- Resources (rule 11), operate-on-behalf authorizations (rule 23), capability labels and
-- subsidy claims (rule 24), phone verification codes (rule 25) and opportunities (rule 20)
-- (SQLite; keep the PostgreSQL 0008 in step).
CREATE TABLE resources (
    id           INTEGER PRIMARY KEY,
    customer     INTEGER NOT NULL REFERENCES customers (id),
    product      INTEGER NOT NULL REFERENCES products (id),
    period       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('in-use', 'closed', 'frozen', 'expired')),
    expiry_policy TEXT NOT NULL,
    effective_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    main_resource INTEGER REFERENCES resources (id)
);

CREATE TABLE authorizations (
    partner         INTEGER NOT NULL REFERENCES partners (id),
    customer        INTEGER NOT NULL REFERENCES customers (id),
    status          TEXT NOT NULL CHECK (status IN ('requested', 'granted', 'refused', 'revoked')),
    terms_agreed_at INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (partner, customer)
);

CREATE TABLE capability_labels (
    partner    INTEGER NOT NULL REFERENCES partners (id),
    label      TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE subsidy_claims (
    id            INTEGER PRIMARY KEY,
    partner       INTEGER NOT NULL REFERENCES partners (id),
    annual_spend  TEXT NOT NULL,
    currency      TEXT NOT NULL,
    claimed_at    INTEGER NOT NULL
);

CREATE TABLE phone_verifications (
    phone      TEXT PRIMARY KEY,
    code_hash  TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE opportunities (
    id               INTEGER PRIMARY KEY,
    origin           TEXT NOT NULL CHECK (origin IN ('ho', 'po')),
    partner          INTEGER NOT NULL REFERENCES partners (id),
    customer_name    TEXT NOT NULL,
    budget           TEXT,
    decision_maker   TEXT,
    need             TEXT,
    timeline         TEXT,
    monthly_revenue  TEXT NOT NULL,
    review           TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);

ALTER TABLE customers ADD COLUMN phone TEXT;
