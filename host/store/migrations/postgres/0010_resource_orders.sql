-- The order that created a resource, which its unsubscription refunds (rule 10)
-- (PostgreSQL; keep the SQLite 0010 in step).
ALTER TABLE resources ADD COLUMN order_id BIGINT REFERENCES orders (id);
