-- Indexes derived from the log. Everything here can be rebuilt from `entries`; the log alone
-- is the source of truth (mqtt_password_hash aside, which is a secret and never logged).

-- The registry as of the newest entry.
CREATE TABLE devices (
    id                 TEXT PRIMARY KEY,
    role               TEXT NOT NULL,
    org                TEXT NOT NULL,
    public_key         BYTEA NOT NULL,
    registered_idx     BIGINT NOT NULL,
    key_idx            BIGINT NOT NULL,
    revoked_idx        BIGINT,
    suspect            BIGINT NOT NULL DEFAULT 0,
    mqtt_password_hash TEXT
);
-- Every key a holder ever had, from the entry that made it current.
CREATE TABLE device_keys (
    device     TEXT NOT NULL,
    idx        BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    PRIMARY KEY (device, idx)
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
