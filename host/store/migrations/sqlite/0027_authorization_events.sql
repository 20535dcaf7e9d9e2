-- Each move of an operate-on-behalf authorization (rule 23) with who made it and when: the
-- partner's staff member who requested it, the customer who granted, refused or revoked it, or
-- the operator who revoked it. Rule 21 makes every write attributable; the authorization row
-- itself keeps only its latest status.
-- (Keep the other engine's 0027 in step; the schema_parity test compares them.)
CREATE TABLE authorization_events (
    id         INTEGER PRIMARY KEY,
    partner    INTEGER NOT NULL,
    customer   INTEGER NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('requested', 'granted', 'refused', 'revoked')),
    actor      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (partner, customer) REFERENCES authorizations (partner, customer)
);
CREATE INDEX authorization_events_by_authorization ON authorization_events (partner, customer, id);
