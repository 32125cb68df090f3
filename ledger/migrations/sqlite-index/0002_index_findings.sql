-- Entries the indexer could not index (they break SPEC §3, or repeat a signer's seq): one
-- finding each, shown in the views and by verify --data, instead of a retry that never ends.
CREATE TABLE index_findings (
    idx     INTEGER PRIMARY KEY,
    problem TEXT NOT NULL
);
