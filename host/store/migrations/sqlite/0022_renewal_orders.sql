-- Renewals are orders (rule 11): a renewal quote names the resource it renews, the order
-- made from it carries it on, and paying the order extends that resource's term in the
-- payment's transaction. NULL for every other quote and order.
-- (Keep the other engine's 0022 in step; the schema_parity test compares them.)
ALTER TABLE quotes ADD COLUMN renews_resource INTEGER REFERENCES resources (id);
ALTER TABLE orders ADD COLUMN renews_resource INTEGER REFERENCES resources (id);
