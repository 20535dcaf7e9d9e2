-- What each payment bought of a resource's time (rule 10): one row per order that paid for
-- a stretch of a resource's term, from `starts_at` to `ends_at`. The order that bought it
-- pays its first term, each renewal the months it added after the old expiry, and a spec
-- change to a dearer spec the difference from its payment to the expiry. An unsubscription
-- refunds the unused part of each row to whoever paid its order; a change to a cheaper spec
-- refunds part of each row's unused part and splits the row at the change.
-- `line` is the order line that paid it (NULL: the whole order, for orders recorded without
-- lines); `value_cents` what the row is worth once a spec change re-valued it (NULL: what its
-- line was paid, its share of the order's amount after coupons).
-- (Keep the other engine's 0028 in step; the schema_parity test compares them.)
CREATE TABLE resource_terms (
    id          INTEGER PRIMARY KEY,
    resource_id INTEGER NOT NULL REFERENCES resources (id),
    order_id    INTEGER NOT NULL REFERENCES orders (id),
    line        INTEGER,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    value_cents INTEGER CHECK (value_cents >= 0)
);
CREATE INDEX resource_terms_by_resource ON resource_terms (resource_id);

-- A spec change quote, and the order made from it (kind `change`): the resource, the spec
-- it changes from and to, the expiry it was priced up to and, for a cheaper spec, the credit
-- refunded when the change is confirmed. JSON, written and read by the store only.
ALTER TABLE quotes ADD COLUMN spec_change TEXT;
ALTER TABLE orders ADD COLUMN spec_change TEXT;
ALTER TABLE orders ADD COLUMN changes_resource INTEGER REFERENCES resources (id);

-- The terms of resources bought before this table: the buying order's line for the
-- resource's product and period, one of its quantity first (the payment made one resource per
-- line, with its quantity; lines alike in all three are alike in amount too), over the term as
-- it stands; and each paid renewal over the same span, as refunds were computed until now.
INSERT INTO resource_terms (resource_id, order_id, line, starts_at, ends_at)
SELECT r.id, r.order_id,
       COALESCE(
           (SELECT MIN(l.line) FROM order_lines l
            WHERE l.order_id = r.order_id AND l.product = r.product AND l.period = r.period AND l.quantity = r.quantity),
           (SELECT MIN(l.line) FROM order_lines l
            WHERE l.order_id = r.order_id AND l.product = r.product AND l.period = r.period)),
       r.effective_at, r.expires_at
FROM resources r
WHERE r.order_id IS NOT NULL AND r.period IN ('month', 'year')
ORDER BY r.id;
INSERT INTO resource_terms (resource_id, order_id, line, starts_at, ends_at)
SELECT o.renews_resource, o.id, 0, r.effective_at, r.expires_at
FROM orders o JOIN resources r ON r.id = o.renews_resource
WHERE o.status IN ('processing', 'completed')
ORDER BY o.id;
