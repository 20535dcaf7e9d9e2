-- API keys, plugin bindings, saved quotes and the orders created from them
-- (SQLite; keep the PostgreSQL 0013 in step).

-- A key is stored as the hash of its secret only; `prefix` is its first characters, shown
-- to people. Scopes are space-separated words.
CREATE TABLE api_keys (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    key_hash       TEXT NOT NULL UNIQUE,
    prefix         TEXT NOT NULL,
    principal_kind TEXT NOT NULL CHECK (principal_kind IN ('operator', 'staff', 'customer')),
    principal_id   INTEGER,
    scopes         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    created_by     TEXT NOT NULL,
    revoked_at     INTEGER,
    CHECK ((principal_kind = 'operator') = (principal_id IS NULL))
);
CREATE INDEX api_keys_by_principal ON api_keys (principal_kind, principal_id, id);

-- Which installed plugin runs for a world at a scope. scope_id is 0 for the platform scope,
-- so that one plugin is bound at most once per world and scope.
CREATE TABLE plugin_bindings (
    id               INTEGER PRIMARY KEY,
    world            TEXT NOT NULL,
    scope            TEXT NOT NULL CHECK (scope IN ('platform', 'seller', 'partner')),
    scope_id         INTEGER NOT NULL,
    plugin_owner     INTEGER NOT NULL REFERENCES partners (id),
    plugin_name      TEXT NOT NULL,
    version          TEXT NOT NULL,
    previous_version TEXT,
    position         INTEGER NOT NULL CHECK (position BETWEEN -1000 AND 1000),
    failure_policy   TEXT NOT NULL CHECK (failure_policy IN ('fail-closed', 'fail-open', 'fallback')),
    enabled          INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    updated_by       TEXT NOT NULL,
    CHECK ((scope = 'platform') = (scope_id = 0)),
    UNIQUE (world, scope, scope_id, plugin_owner, plugin_name)
);

-- A priced quote kept for ordering later; the body is the priced quote as JSON. An order
-- claims it once.
CREATE TABLE quotes (
    id         INTEGER PRIMARY KEY,
    customer   INTEGER NOT NULL REFERENCES customers (id),
    currency   TEXT NOT NULL,
    total      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    order_id   INTEGER UNIQUE REFERENCES orders (id)
);
CREATE INDEX quotes_by_customer ON quotes (customer, id);
ALTER TABLE orders ADD COLUMN quote_id INTEGER REFERENCES quotes (id);
