-- Issue #17, download rate: a staged row's data and clocks are kept as one LZ4 block (`body`,
-- the data's length in bytes in `data_len`): staging wrote every row in full before the install
-- wrote it again, and two thirds of a row is its per-field clocks, the same text over and over
-- (a row created in one write stamps every field with one clock) — about a third of the bytes.
-- The staging table only ever holds one download in progress, so it is rebuilt rather than
-- converted: a download staged by an older version starts again.
DELETE FROM meta WHERE key = 'download';
DROP TABLE download_staging;
CREATE TABLE download_staging (
    uuid          TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    production_id TEXT,
    body          BLOB NOT NULL,
    data_len      INTEGER NOT NULL,
    is_deleted    INTEGER,
    created_at    TEXT,
    label         TEXT,
    clock         TEXT
) STRICT;
