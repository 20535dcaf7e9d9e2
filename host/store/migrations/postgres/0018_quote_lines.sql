-- The lines an order created from a saved quote gets, as the store reads them (a JSON array
-- of order lines: product, period, period count, quantity, list and unit price), beside the
-- body, which stays the record of how the quote was priced. Quotes saved before this column
-- have none and can no longer be ordered; they expire within 24 hours of pricing anyway.
-- (Keep the other engine's 0018 in step; the schema_parity test compares them.)
ALTER TABLE quotes ADD COLUMN lines TEXT;
