-- The log: entries byte for byte, subtree hashes as C2SP tiles, every signed checkpoint.
CREATE TABLE log_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE entries (
    idx  BIGINT PRIMARY KEY,
    data BYTEA NOT NULL
);
CREATE TABLE tiles (
    level  BIGINT NOT NULL,
    idx    BIGINT NOT NULL,
    hashes BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE checkpoints (
    size       BIGINT PRIMARY KEY,
    note       TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
