-- What a customer spent in its current budget month (rule 18: a budget caps what a resale
-- customer may spend): its orders' payments in the calendar month (UTC) `spent_month`
-- (`YYYY-MM`). A payment raises it with a conditional update that refuses to pass the budget,
-- in the payment's transaction, so concurrent payments never spend past it together.
-- (Keep the other engine's 0026 in step; the schema_parity test compares them.)
ALTER TABLE customers ADD COLUMN spent_month TEXT;
ALTER TABLE customers ADD COLUMN spent_cents BIGINT NOT NULL DEFAULT 0 CHECK (spent_cents >= 0);

-- When the scheduler last tried to auto-renew a resource (rule 11): claimed by a conditional
-- update, so that one instance tries at a time, and a renewal the rules refuse or the
-- customer cannot pay is tried again a day later, not at every run.
ALTER TABLE resources ADD COLUMN auto_renew_tried_at BIGINT;
