-- The registry as of the newest entry, written in the same transaction as the registry
-- entries themselves (everything here can be rebuilt from `entries`, except
-- mqtt_password_hash, a secret's hash that is never logged).
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
