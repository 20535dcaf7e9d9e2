-- Customer invitations (rule 1) and quotas split from a distributor's to a reseller's
-- (SQLite; keep the PostgreSQL 0009 in step).
CREATE TABLE invitations (
    token       TEXT PRIMARY KEY,
    partner     INTEGER NOT NULL REFERENCES partners (id),
    customer    INTEGER NOT NULL REFERENCES customers (id),
    channel     TEXT NOT NULL CHECK (channel IN ('online', 'offline')),
    created_at  INTEGER NOT NULL,
    accepted_at INTEGER
);

ALTER TABLE coupon_quotas ADD COLUMN parent INTEGER REFERENCES coupon_quotas (id);
