-- What an invoice request covers and who issues it (SQLite; keep migrations/postgres/0003 in step).
ALTER TABLE invoice_requests ADD COLUMN cycle TEXT;
ALTER TABLE invoice_requests ADD COLUMN order_id INTEGER REFERENCES orders (id);
ALTER TABLE invoice_requests ADD COLUMN issuer TEXT;
