-- Approval tasks of every action extension@0.3.0 rules are asked about (SQLite rebuilds the
-- table to widen its kind CHECK; keep the PostgreSQL 0020 in step).
CREATE TABLE approval_tasks_new (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('refund', 'payment-on-behalf', 'coupon-issue', 'balance-allocation', 'customer-unfreeze', 'reseller-invitation', 'unsubscribe', 'renewal', 'reclaim', 'quota-split', 'freeze', 'budget', 'association-change', 'unbind', 'order-review', 'cancel')),
    partner      INTEGER NOT NULL REFERENCES partners (id),
    customer     INTEGER REFERENCES customers (id),
    role         TEXT NOT NULL CHECK (role IN ('platform-operator', 'partner-admin', 'customer-manager', 'supervisor', 'salesperson', 'customer')),
    reason       TEXT NOT NULL,
    plugin       TEXT NOT NULL,
    action       TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'failed')),
    decided_by   TEXT,
    decided_at   INTEGER,
    outcome      TEXT,
    created_at   INTEGER NOT NULL,
    CHECK ((status = 'pending') = (decided_by IS NULL)),
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
INSERT INTO approval_tasks_new SELECT id, kind, partner, customer, role, reason, plugin, action, requested_by, status, decided_by, decided_at, outcome, created_at FROM approval_tasks;
DROP TABLE approval_tasks;
ALTER TABLE approval_tasks_new RENAME TO approval_tasks;
CREATE INDEX approval_tasks_by_partner ON approval_tasks (partner, status, id);
