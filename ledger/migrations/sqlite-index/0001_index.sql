-- The event index, derived from the log by the indexer task behind the sequencer. With
-- SQLite it lives in its own database file, so that indexing never holds the log's write
-- lock; it can always be rebuilt from the log.
CREATE TABLE index_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Every anchored event by its signer's chain position.
CREATE TABLE events (
    idx     INTEGER PRIMARY KEY,
    device  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    hash    BLOB NOT NULL,
    prev    BLOB NOT NULL,
    time_ms INTEGER NOT NULL,
    kind    INTEGER NOT NULL,
    dropped INTEGER,
    UNIQUE (device, seq)
);
-- Item (and parent) EPC -> entries that name it.
CREATE TABLE item_events (
    item TEXT NOT NULL,
    idx  INTEGER NOT NULL,
    PRIMARY KEY (item, idx)
) WITHOUT ROWID;
-- Packing (+1) and unpacking (-1) of a child into a parent, by event time.
CREATE TABLE aggregations (
    child   TEXT NOT NULL,
    parent  TEXT NOT NULL,
    idx     INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    delta   INTEGER NOT NULL,
    PRIMARY KEY (child, idx)
) WITHOUT ROWID;
CREATE INDEX aggregations_parent ON aggregations (parent, time_ms);
