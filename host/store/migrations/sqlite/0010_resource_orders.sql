-- The order that created a resource, which its unsubscription refunds (rule 10)
-- (SQLite; keep the PostgreSQL 0010 in step).
ALTER TABLE resources ADD COLUMN order_id INTEGER REFERENCES orders (id);
