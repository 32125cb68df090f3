-- One state per log origin (C2SP tlog-witness): the latest checkpoint this witness cosigned.
-- `note` is that checkpoint as the witness serves it: the body, the log's signatures it
-- verified and the witness's own cosignature. `cosigned_at` is that cosignature's timestamp;
-- the next one for the origin is never lower.
CREATE TABLE witness_logs (
    origin TEXT PRIMARY KEY NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32),
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
) STRICT;

-- Evidence that a log showed two views: the checkpoint this witness had cosigned and a
-- checkpoint the log also signed that does not extend it. Kept for ever, served to anyone.
CREATE TABLE forks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    cosigned TEXT NOT NULL,
    conflicting TEXT NOT NULL,
    -- For `consistency-proof-failed`: the old size and proof lines the client sent.
    old_size INTEGER,
    proof TEXT NOT NULL DEFAULT '',
    detected INTEGER NOT NULL,
    UNIQUE (origin, cosigned, conflicting)
) STRICT;
