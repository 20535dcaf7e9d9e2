-- Budgets of resale customers (rule 18) (SQLite; keep migrations/postgres/0004 in step).
ALTER TABLE customers ADD COLUMN budget_cents INTEGER;
