-- Names of places and parties (GLNs), kept by the operator through the admin API so that
-- pages say "Port of Felixstowe, berth 7" instead of urn:epc:id:sgln:5012345.00007.7. Not
-- part of the log: a label for people, never an input to a verdict.
CREATE TABLE places (
    gln        TEXT PRIMARY KEY,  -- company prefix.reference[.extension]
    name       TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
