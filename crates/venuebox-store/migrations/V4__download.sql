-- Pre-show download (issue #5): rows of a production being downloaded wait here until the
-- whole snapshot has arrived, so the API never shows a half-downloaded production. The
-- download's progress (production, hub sequence, last uuid) is in meta, so an interrupted
-- download continues where it stopped.
CREATE TABLE download_staging (
    uuid          TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    production_id TEXT,
    data          TEXT NOT NULL CHECK (json_valid(data)),
    clocks        TEXT NOT NULL CHECK (json_valid(clocks))
) STRICT;

ALTER TABLE sync_holdings ADD COLUMN downloaded_at TEXT;
ALTER TABLE sync_holdings ADD COLUMN locked_at TEXT;
