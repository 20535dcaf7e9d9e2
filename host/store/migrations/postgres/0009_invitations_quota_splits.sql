-- Customer invitations (rule 1) and quotas split from a distributor's to a reseller's
-- (PostgreSQL; keep the SQLite 0009 in step).
CREATE TABLE invitations (
    token       TEXT PRIMARY KEY,
    partner     BIGINT NOT NULL REFERENCES partners (id),
    customer    BIGINT NOT NULL REFERENCES customers (id),
    channel     TEXT NOT NULL CHECK (channel IN ('online', 'offline')),
    created_at  BIGINT NOT NULL,
    accepted_at BIGINT
);

ALTER TABLE coupon_quotas ADD COLUMN parent BIGINT REFERENCES coupon_quotas (id);
