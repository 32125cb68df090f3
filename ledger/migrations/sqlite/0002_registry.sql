-- The registry as of the newest entry, written in the same transaction as the registry
-- entries themselves (everything here can be rebuilt from `entries`, except
-- mqtt_password_hash, a secret's hash that is never logged).
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
