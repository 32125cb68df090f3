-- The event index, derived from the log by the indexer task behind the sequencer. With
-- SQLite it lives in its own database file, so that indexing never holds the log's write
-- lock; it can always be rebuilt from the log.
CREATE TABLE index_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Every anchored event by its signer's chain position.
CREATE TABLE events (
    idx     BIGINT PRIMARY KEY,
    device  TEXT NOT NULL,
    seq     BIGINT NOT NULL,
    hash    BYTEA NOT NULL,
    prev    BYTEA NOT NULL,
    time_ms BIGINT NOT NULL,
    kind    BIGINT NOT NULL,
    dropped BIGINT,
    UNIQUE (device, seq)
);
-- Item (and parent) EPC -> entries that name it.
CREATE TABLE item_events (
    item TEXT NOT NULL,
    idx  BIGINT NOT NULL,
    PRIMARY KEY (item, idx)
);
-- Packing (+1) and unpacking (-1) of a child into a parent, by event time.
CREATE TABLE aggregations (
    child   TEXT NOT NULL,
    parent  TEXT NOT NULL,
    idx     BIGINT NOT NULL,
    time_ms BIGINT NOT NULL,
    delta   BIGINT NOT NULL,
    PRIMARY KEY (child, idx)
);
CREATE INDEX aggregations_parent ON aggregations (parent, time_ms);
