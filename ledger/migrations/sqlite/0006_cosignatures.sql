-- Witnesses' cosignatures (C2SP tlog-cosignature) on the log's checkpoints, as the log's
-- side of tlog-witness received them, each checked against the witness's key first.
CREATE TABLE cosignatures (
    size        INTEGER NOT NULL,
    witness     TEXT NOT NULL,
    timestamp   INTEGER NOT NULL,
    line        TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (size, witness)
);
