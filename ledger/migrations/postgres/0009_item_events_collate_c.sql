-- Item EPC URIs compared byte by byte: a product page lists the items of a GTIN by a range
-- over the primary key (`item >= prefix AND item < next prefix`), which only matches the
-- prefix under the "C" collation (a language collation such as en_US skips punctuation, so
-- `urn:epc:id:sgtin:4012345.012345.1001` would sort above `urn:epc:id:sgtin:4012345.012345/`).
-- EPC URIs are ASCII, so equality and every other query are unchanged; the primary key is
-- rebuilt with the new collation and serves the range, so no second index is needed.
ALTER TABLE item_events ALTER COLUMN item TYPE TEXT COLLATE "C";
