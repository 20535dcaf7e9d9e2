-- Accounts with a ledger, order lines, payments and idempotency keys (SQLite; keep
-- migrations/postgres/0002 in step). Money that moves is INTEGER cents: exact, comparable
-- and summable in SQL; balances are the sum of their ledger entries.

CREATE TABLE accounts (
    id                 INTEGER PRIMARY KEY,
    owner_kind         TEXT NOT NULL CHECK (owner_kind IN ('partner', 'customer')),
    owner_id           INTEGER NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('cash', 'credit', 'bonus', 'allocatable')),
    currency           TEXT NOT NULL,
    balance_cents      INTEGER NOT NULL DEFAULT 0,
    credit_limit_cents INTEGER NOT NULL DEFAULT 0 CHECK (credit_limit_cents >= 0),
    designated_cents   INTEGER NOT NULL DEFAULT 0 CHECK (designated_cents >= 0),
    -- Rule 6: no account below zero; a credit account not below minus its limit.
    CHECK (balance_cents >= -credit_limit_cents),
    UNIQUE (owner_kind, owner_id, kind, currency)
);

CREATE TABLE ledger_entries (
    id           INTEGER PRIMARY KEY,
    account      INTEGER NOT NULL REFERENCES accounts (id),
    amount_cents INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    order_id     INTEGER REFERENCES orders (id),
    actor        TEXT NOT NULL,
    on_behalf_of TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX ledger_entries_by_account ON ledger_entries (account, id);

CREATE TABLE order_lines (
    order_id        INTEGER NOT NULL REFERENCES orders (id),
    line            INTEGER NOT NULL,
    product         INTEGER NOT NULL REFERENCES products (id),
    period          TEXT NOT NULL,
    period_count    INTEGER NOT NULL CHECK (period_count > 0),
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    list_unit_price TEXT NOT NULL,
    unit_price      TEXT NOT NULL,
    amount          TEXT NOT NULL,
    PRIMARY KEY (order_id, line)
);

ALTER TABLE orders ADD COLUMN payment_deadline INTEGER;
ALTER TABLE orders ADD COLUMN paid_by TEXT;
ALTER TABLE orders ADD COLUMN created_by TEXT;

CREATE TABLE idempotency_keys (
    scope           TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response        TEXT,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);
