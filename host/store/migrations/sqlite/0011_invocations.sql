-- The audit trail of plugin invocations (SQLite; keep the PostgreSQL 0011 in step).
CREATE TABLE invocations (
    id            INTEGER PRIMARY KEY,
    plugin        TEXT NOT NULL,
    digest        TEXT NOT NULL,
    world         TEXT NOT NULL,
    owner         INTEGER NOT NULL,
    input_hash    TEXT NOT NULL,
    input         TEXT NOT NULL,
    as_of         INTEGER NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('ok', 'failed')),
    output        TEXT,
    failure       TEXT,
    duration_us   INTEGER NOT NULL,
    fuel_used     INTEGER,
    logs          TEXT NOT NULL,
    recorded_at   INTEGER NOT NULL
);
CREATE INDEX invocations_by_owner ON invocations (owner, id);
CREATE INDEX invocations_by_digest ON invocations (digest, id);
