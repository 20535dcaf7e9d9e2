-- Partner staff (rule 16) and the history of customer unbinds (rule 17)
-- (SQLite; keep the other engine's 0005 in step).
CREATE TABLE staff (
    id         INTEGER PRIMARY KEY,
    partner    INTEGER NOT NULL REFERENCES partners (id),
    role       TEXT NOT NULL CHECK (role IN ('partner-admin', 'customer-manager', 'supervisor', 'salesperson')),
    supervisor INTEGER REFERENCES staff (id)
);

CREATE TABLE customer_unbinds (
    customer   INTEGER NOT NULL REFERENCES customers (id),
    partner    INTEGER NOT NULL REFERENCES partners (id),
    unbound_at INTEGER NOT NULL,
    actor      TEXT NOT NULL
);
CREATE INDEX customer_unbinds_by_customer ON customer_unbinds (customer, unbound_at);

ALTER TABLE customers ADD COLUMN unbound_at INTEGER;
