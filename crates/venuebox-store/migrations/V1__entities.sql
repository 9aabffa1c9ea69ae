-- Every kind of the registry lives in this one table. A row's typed fields are a JSON
-- object keyed by the registry's column names; the registry validates types at the boundary.
-- One table keeps the write path, per-field sync and "add a kind" free of per-kind SQL.
CREATE TABLE entities (
    uuid             TEXT PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL,
    production_id    TEXT,
    data             TEXT NOT NULL CHECK (json_valid(data)),
    version          INTEGER NOT NULL DEFAULT 1,
    is_deleted       INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    last_modified_by TEXT,
    synced_at        TEXT
) STRICT;

CREATE INDEX entities_by_production ON entities (production_id, kind, is_deleted);
CREATE INDEX entities_by_kind ON entities (kind, is_deleted);

-- Node-local facts: node id, seed version.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
