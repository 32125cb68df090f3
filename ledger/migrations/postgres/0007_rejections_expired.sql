-- Rejections older than the retention time are deleted (junk must not fill the disk forever);
-- what they were is kept as a count per reason, so the totals stay true.
CREATE TABLE rejections_expired (
    reason TEXT PRIMARY KEY,
    rows_deleted BIGINT NOT NULL,
    times BIGINT NOT NULL
);
