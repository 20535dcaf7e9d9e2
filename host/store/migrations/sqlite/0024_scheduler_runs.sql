-- Each run of a job of the scheduler inside `serve` (expiring unpaid orders, rule 8): what it
-- did, for the operator (GET /v1/scheduler/runs). Items are claimed by conditional updates,
-- so a crash or a second instance never does one twice.
-- (Keep the other engine's 0024 in step; the schema_parity test compares them.)
CREATE TABLE scheduler_runs (
    id          INTEGER PRIMARY KEY,
    job         TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    items       INTEGER NOT NULL CHECK (items >= 0),
    error       TEXT
);
