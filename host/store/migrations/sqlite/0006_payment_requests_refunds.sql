-- Payment requests to the partner (rule 22) and refunds (rules 9, 10)
-- (SQLite; keep the PostgreSQL 0006 in step).
CREATE TABLE payment_requests (
    order_id     INTEGER PRIMARY KEY REFERENCES orders (id),
    customer     INTEGER NOT NULL REFERENCES customers (id),
    partner      INTEGER NOT NULL REFERENCES partners (id),
    status       TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'rejected')),
    requested_at INTEGER NOT NULL,
    decided_at   INTEGER
);

CREATE TABLE refunds (
    id           INTEGER PRIMARY KEY,
    order_id     INTEGER NOT NULL REFERENCES orders (id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    status       TEXT NOT NULL CHECK (status IN ('requested', 'completed')),
    requested_by TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    account      INTEGER REFERENCES accounts (id),
    completed_at INTEGER
);
CREATE INDEX refunds_by_order ON refunds (order_id);
