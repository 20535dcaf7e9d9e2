-- Coupon quotas and coupons (rules 7, 12, 13) (SQLite; keep the PostgreSQL 0007 in step).
CREATE TABLE coupon_quotas (
    id             INTEGER PRIMARY KEY,
    partner        INTEGER NOT NULL REFERENCES partners (id),
    currency       TEXT NOT NULL,
    amount_cents   INTEGER NOT NULL CHECK (amount_cents >= 0),
    balance_cents  INTEGER NOT NULL CHECK (balance_cents >= 0),
    max_face_cents INTEGER NOT NULL CHECK (max_face_cents > 0),
    status         TEXT NOT NULL CHECK (status IN ('normal', 'adjusting', 'frozen', 'reclaimed', 'invalid'))
);

CREATE TABLE coupons (
    id                 INTEGER PRIMARY KEY,
    quota              INTEGER NOT NULL REFERENCES coupon_quotas (id),
    customer           INTEGER NOT NULL REFERENCES customers (id),
    currency           TEXT NOT NULL,
    face_cents         INTEGER NOT NULL CHECK (face_cents > 0),
    status             TEXT NOT NULL CHECK (status IN ('inactive', 'usable', 'used', 'expired', 'reclaimed')),
    valid_from         INTEGER NOT NULL,
    valid_to           INTEGER NOT NULL,
    min_spend_cents    INTEGER NOT NULL DEFAULT 0,
    service_type       TEXT,
    min_discount_ratio TEXT,
    combines_with      TEXT NOT NULL,
    used_on_order      INTEGER REFERENCES orders (id)
);
CREATE INDEX coupons_by_customer ON coupons (customer, status);

ALTER TABLE orders ADD COLUMN discount_kind TEXT;
