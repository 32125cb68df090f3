-- A message that arrives again with the same topic and reason (a QoS 1 re-delivery, a device's
-- re-send, an attacker replaying junk) is kept once and counted, so a replay flood cannot fill
-- the disk. digest = SHA-256 over topic, reason and bytes (rejections.rs says exactly how);
-- rows from before this migration have none and stay as they are.
ALTER TABLE rejections ADD COLUMN digest BLOB;
ALTER TABLE rejections ADD COLUMN times INTEGER NOT NULL DEFAULT 1;
ALTER TABLE rejections ADD COLUMN last_received_ms INTEGER;
CREATE UNIQUE INDEX rejections_digest ON rejections (digest);
