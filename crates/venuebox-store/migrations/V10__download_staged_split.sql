-- Issue #17, download rate: a staged row is taken apart when it is staged (the data without
-- `_deleted` and `_created_at`, those two, the display label and the row's highest clock in
-- columns of their own; replica::snapshot_row), no longer while the install holds the writer.
-- Staging waits on the hub anyway, so the work leaves the download's critical path. A row that
-- does not come apart (not a JSON object) is staged as the hub sent it with `is_deleted` NULL,
-- and the install refuses it as before.
--
-- A download staged before this version holds rows in the old form: it starts again.
DELETE FROM download_staging;
DELETE FROM meta WHERE key = 'download';
ALTER TABLE download_staging ADD COLUMN is_deleted INTEGER;
ALTER TABLE download_staging ADD COLUMN created_at TEXT;
ALTER TABLE download_staging ADD COLUMN label TEXT;
ALTER TABLE download_staging ADD COLUMN clock TEXT;
