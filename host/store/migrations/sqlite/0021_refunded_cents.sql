-- What has been refunded of each order, kept on the order so that the cap on refunds
-- (refunded + amount <= paid, rules 9 and 10) is one conditional update: two refunds racing
-- for the same order cannot together exceed what was paid. Backfilled from the refunds paid so far.
-- (Keep the other engine's 0021 in step; the schema_parity test compares them.)
ALTER TABLE orders ADD COLUMN refunded_cents INTEGER NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0);
UPDATE orders SET refunded_cents = COALESCE((SELECT SUM(r.amount_cents) FROM refunds r WHERE r.order_id = orders.id AND r.status = 'completed'), 0);
-- Refunds only requested (unsubscriptions before refunds were paid at once) were never paid:
-- they do not count, and their orders go back to completed, refundable again.
UPDATE orders SET status = 'completed' WHERE status = 'pending-refund';
