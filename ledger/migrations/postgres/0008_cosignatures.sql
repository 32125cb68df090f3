-- Witnesses' cosignatures (C2SP tlog-cosignature) on the log's checkpoints, as the log's
-- side of tlog-witness received them, each checked against the witness's key first.
CREATE TABLE cosignatures (
    size        BIGINT NOT NULL,
    witness     TEXT NOT NULL,
    timestamp   BIGINT NOT NULL,
    line        TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (size, witness)
);
