-- How many units a resource is: what its order line bought, and what a renewal charges for
-- (rule 11). Resources before this count as one unit.
-- (Keep the other engine's 0025 in step; the schema_parity test compares them.)
ALTER TABLE resources ADD COLUMN quantity INTEGER NOT NULL DEFAULT 1 CHECK (quantity > 0);
