-- The orders that billing-cycle invoice requests made before 0023 covered: each order paid
-- in that calendar month (UTC), in the request's currency, for its customer, not claimed by
-- another request, is marked as invoiced by the first such request, so that it is not
-- invoiced again alone or in a later request (rule 2: an order is invoiced at most once).
-- (Keep the other engine's 0030 in step: the same rows, its own date function.)
UPDATE orders SET invoice_request = (
    SELECT MIN(r.id) FROM invoice_requests r
    WHERE r.basis = 'billing-cycle' AND r.customer = orders.customer AND r.currency = orders.currency
      AND r.cycle = to_char(to_timestamp(orders.paid_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM')
)
WHERE invoice_request IS NULL AND paid_at IS NOT NULL;
