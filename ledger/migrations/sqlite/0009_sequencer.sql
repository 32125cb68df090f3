-- The sequencer's lease (issue #19): whoever holds it appends. Every append transaction
-- renews it under the holder's fencing token, so a process that lost it (paused past its
-- expiry while another took over) can never append again.
CREATE TABLE sequencer (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    token BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
INSERT INTO sequencer (id, holder, token, expires_ms) VALUES (1, '', 0, 0);
