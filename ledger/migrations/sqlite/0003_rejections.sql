-- Every message ingest refused, whole, with where and when it came from and why (SPEC §4).
-- Not part of the log: a rejected message is never anchored.
CREATE TABLE rejections (
    id          INTEGER PRIMARY KEY,
    received_ms INTEGER NOT NULL,
    topic       TEXT,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    device      TEXT,
    seq         INTEGER,
    data        BLOB NOT NULL
);
CREATE INDEX rejections_reason ON rejections (reason, id);
CREATE INDEX rejections_device ON rejections (device, id);
