-- A refund of an order already invoiced (alone or in its billing cycle) issues a credit note
-- against that invoice request, in the refund's transaction: the invoice and its credit notes
-- together state what was paid net of refunds (rules 2, 5).
-- (Keep the other engine's 0029 in step; the schema_parity test compares them.)
CREATE TABLE credit_notes (
    id              INTEGER PRIMARY KEY,
    invoice_request INTEGER NOT NULL REFERENCES invoice_requests (id),
    order_id        INTEGER NOT NULL REFERENCES orders (id),
    refund_id       INTEGER NOT NULL UNIQUE REFERENCES refunds (id),
    amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
    currency        TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX credit_notes_by_invoice ON credit_notes (invoice_request);
