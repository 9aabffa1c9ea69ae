-- Rows a spreadsheet import created (issue #20), by the export the workbook came from: a
-- workbook imported again still has those rows without a uuid (the box cannot write into the
-- person's file), and this is how the second import knows them instead of creating them
-- twice. `prints` are the row's cell fingerprints as imported.
CREATE TABLE workbook_imports (
    export_id   TEXT NOT NULL,
    sheet       TEXT NOT NULL,
    sheet_row   INTEGER NOT NULL,
    uuid        TEXT NOT NULL,
    prints      TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    PRIMARY KEY (export_id, sheet, uuid)
) STRICT;
