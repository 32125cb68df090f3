-- Indexes derived from the log. Everything here can be rebuilt from `entries`; the log alone
-- is the source of truth (mqtt_password_hash aside, which is a secret and never logged).

-- The registry as of the newest entry.
CREATE TABLE devices (
    id                 TEXT PRIMARY KEY,
    role               TEXT NOT NULL,
    org                TEXT NOT NULL,
    public_key         BLOB NOT NULL,
    registered_idx     INTEGER NOT NULL,
    key_idx            INTEGER NOT NULL,
    revoked_idx        INTEGER,
    suspect            INTEGER NOT NULL DEFAULT 0,
    mqtt_password_hash TEXT
);
-- Every key a holder ever had, from the entry that made it current.
CREATE TABLE device_keys (
    device     TEXT NOT NULL,
    idx        INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    PRIMARY KEY (device, idx)
) WITHOUT ROWID;
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
