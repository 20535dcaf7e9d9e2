-- The invoice request that covers each order: an order (alone, or in its billing cycle) is
-- invoiced at most once, claimed by a conditional update in the request's transaction.
-- Backfilled for the requests by order so far; requests by billing cycle before this did not
-- record their orders.
-- (Keep the other engine's 0023 in step; the schema_parity test compares them.)
ALTER TABLE orders ADD COLUMN invoice_request BIGINT REFERENCES invoice_requests (id);
UPDATE orders SET invoice_request = (SELECT MAX(r.id) FROM invoice_requests r WHERE r.order_id = orders.id);
