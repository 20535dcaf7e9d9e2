-- Approval tasks, shadow versions of plugin bindings and the differences they showed, and
-- the purpose of each invocation (SQLite; keep the PostgreSQL 0014 in step).

-- An action an approval rule escalated to a role, waiting for (or after) a person's
-- decision. The action and the outcome are JSON that the domain stores without reading.
CREATE TABLE approval_tasks (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('refund', 'payment-on-behalf', 'coupon-issue', 'balance-allocation', 'customer-unfreeze', 'reseller-invitation')),
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
CREATE INDEX approval_tasks_by_partner ON approval_tasks (partner, status, id);

-- A version of the same plugin that runs beside the active one without affecting results.
-- Never the active version itself.
ALTER TABLE plugin_bindings ADD COLUMN shadow_version TEXT CHECK (shadow_version IS NULL OR shadow_version <> version);

-- A live request on which a binding's shadow version answered differently from its active
-- version. The invocation ids point into the audit trail when those invocations were
-- recorded. Deleting a binding deletes its differences.
CREATE TABLE shadow_diffs (
    id                INTEGER PRIMARY KEY,
    binding           INTEGER NOT NULL REFERENCES plugin_bindings (id) ON DELETE CASCADE,
    active_version    TEXT NOT NULL,
    shadow_version    TEXT NOT NULL,
    input_hash        TEXT NOT NULL,
    active_invocation INTEGER,
    shadow_invocation INTEGER,
    active_output     TEXT NOT NULL,
    shadow_output     TEXT NOT NULL,
    recorded_at       INTEGER NOT NULL
);
CREATE INDEX shadow_diffs_by_binding ON shadow_diffs (binding, id);

-- Why a plugin ran: for a live request, as a shadow beside the active version, or replayed.
ALTER TABLE invocations ADD COLUMN purpose TEXT NOT NULL DEFAULT 'live' CHECK (purpose IN ('live', 'shadow', 'replay'));
