-- What each invocation used beyond fuel: capability calls made (refused ones included) and
-- those refused as outside the owner's scope (PostgreSQL; keep the SQLite 0015 in step).
ALTER TABLE invocations ADD COLUMN capability_calls BIGINT NOT NULL DEFAULT 0 CHECK (capability_calls >= 0);
ALTER TABLE invocations ADD COLUMN denied_calls BIGINT NOT NULL DEFAULT 0 CHECK (denied_calls >= 0);
