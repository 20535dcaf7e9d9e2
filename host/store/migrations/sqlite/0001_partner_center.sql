-- The partner-center tables the plugin capabilities read. Money is TEXT holding an exact
-- decimal (never REAL); times are INTEGER milliseconds since the Unix epoch, UTC.

CREATE TABLE partners (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('solution-provider', 'distributor', 'reseller', 'seller')),
    name        TEXT NOT NULL,
    distributor INTEGER REFERENCES partners (id),
    country     TEXT NOT NULL,
    frozen      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE customers (
    id            INTEGER PRIMARY KEY,
    partner       INTEGER NOT NULL REFERENCES partners (id),
    account_name  TEXT NOT NULL UNIQUE,
    association   TEXT NOT NULL CHECK (association IN ('resale', 'referral')),
    associated_at INTEGER NOT NULL,
    real_name     TEXT NOT NULL,
    customer_type TEXT NOT NULL,
    freeze        TEXT NOT NULL,
    manager       INTEGER,
    country       TEXT NOT NULL,
    level         INTEGER NOT NULL DEFAULT 0 CHECK (level BETWEEN 0 AND 255)
);
CREATE INDEX customers_by_partner ON customers (partner, id);

CREATE TABLE products (
    id            INTEGER PRIMARY KEY,
    seller        INTEGER REFERENCES partners (id),
    service_type  TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    spec_code     TEXT NOT NULL,
    region        TEXT NOT NULL,
    charging_mode TEXT NOT NULL CHECK (charging_mode IN ('yearly-monthly', 'on-demand'))
);

CREATE TABLE list_prices (
    product  INTEGER NOT NULL REFERENCES products (id),
    period   TEXT NOT NULL,
    amount   TEXT NOT NULL,
    currency TEXT NOT NULL,
    PRIMARY KEY (product, period)
);

CREATE TABLE orders (
    id              INTEGER PRIMARY KEY,
    customer        INTEGER NOT NULL REFERENCES customers (id),
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    list_amount     TEXT NOT NULL,
    amount          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    paid_at         INTEGER,
    paid_by_partner INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX orders_by_customer ON orders (customer, created_at DESC);

CREATE TABLE invoice_infos (
    customer   INTEGER PRIMARY KEY REFERENCES customers (id),
    title_type TEXT NOT NULL,
    title      TEXT NOT NULL,
    tax_id     TEXT
);

CREATE TABLE invoice_requests (
    id           INTEGER PRIMARY KEY,
    customer     INTEGER NOT NULL REFERENCES customers (id),
    basis        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    medium       TEXT NOT NULL,
    amount       TEXT NOT NULL,
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL,
    requested_at INTEGER NOT NULL
);
CREATE INDEX invoice_requests_by_customer ON invoice_requests (customer, requested_at DESC);

-- Installed plugin versions; the component artefacts live content-addressed on disk.
CREATE TABLE plugins (
    digest       TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    world        TEXT NOT NULL,
    owner        INTEGER NOT NULL REFERENCES partners (id),
    manifest     TEXT NOT NULL,
    installed_at INTEGER NOT NULL,
    UNIQUE (name, version, owner)
);
