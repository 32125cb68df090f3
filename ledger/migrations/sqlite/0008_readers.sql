-- Read access (issue #14): each grant is one organisation's read token at one tier, with an
-- optional item prefix the operator shares with it. Only the token's hash is kept; the token
-- is shown once. Not part of the log: who may read is the operator's business, and a revoked
-- grant stops at once (every request looks its token up).
CREATE TABLE readers (
    id         INTEGER PRIMARY KEY,
    org        TEXT NOT NULL,
    tier       TEXT NOT NULL,
    items      TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
CREATE INDEX readers_org ON readers (org);
