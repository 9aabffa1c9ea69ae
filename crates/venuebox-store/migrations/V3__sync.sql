-- Sync bookkeeping (see venuebox-store::sync and crates/README.md, "Sync").

-- Per-field clocks of each row: column -> HLC text ("" or absent = never changed since seeding).
-- The pseudo-column "_deleted" carries the archive flag of soft-deleted kinds.
ALTER TABLE entities ADD COLUMN clocks TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(clocks));

-- The outbox: one entry per local change, written in the same transaction as the change.
-- node_seq is this node's gap-free sequence (the hub's idempotency key). An entry is
-- acknowledged (acked_seq = the hub sequence that logged it) when the hub has committed it,
-- and removed once the pull cursor has passed that sequence, so an older hub change pulled
-- later cannot briefly overwrite it.
CREATE TABLE sync_outbox (
    node_seq      INTEGER PRIMARY KEY NOT NULL,
    op            TEXT NOT NULL CHECK (op IN ('upsert', 'delete', 'resolve')),
    kind          TEXT NOT NULL,
    uuid          TEXT NOT NULL,
    production_id TEXT,
    fields        TEXT NOT NULL CHECK (json_valid(fields)),
    clocks        TEXT NOT NULL CHECK (json_valid(clocks)),
    bases         TEXT NOT NULL CHECK (json_valid(bases)),
    row_data      TEXT CHECK (row_data IS NULL OR json_valid(row_data)),
    actor         TEXT,
    created_at    TEXT NOT NULL,
    acked_seq     INTEGER
) STRICT;
CREATE INDEX sync_outbox_by_uuid ON sync_outbox (uuid);
CREATE INDEX sync_outbox_unacked ON sync_outbox (acked_seq, node_seq);

-- Conflicts decided by the hub, pulled here: the value that lost a per-field merge (or a
-- change refused because its row was deleted or its production locked).
CREATE TABLE sync_conflicts (
    id            INTEGER PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    uuid          TEXT NOT NULL,
    production_id TEXT,
    column_name   TEXT NOT NULL,
    reason        TEXT NOT NULL,
    winner_value  TEXT,
    winner_hlc    TEXT,
    winner_node   TEXT,
    loser_value   TEXT,
    loser_hlc     TEXT,
    loser_node    TEXT,
    created_at    TEXT NOT NULL,
    resolved_at   TEXT,
    resolution    TEXT
) STRICT;
CREATE INDEX sync_conflicts_open ON sync_conflicts (resolved_at, id);

-- Productions whose rows this node pulls (besides global data), and since which hub sequence.
CREATE TABLE sync_holdings (
    production_id TEXT PRIMARY KEY NOT NULL,
    held_since    TEXT NOT NULL
) STRICT;

-- The seed app's sync_log: one row per push or pull round that did something or failed.
CREATE TABLE sync_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    direction    TEXT NOT NULL CHECK (direction IN ('push', 'pull')),
    started_at   TEXT NOT NULL,
    completed_at TEXT,
    records      INTEGER NOT NULL DEFAULT 0,
    conflicts    INTEGER NOT NULL DEFAULT 0,
    error        TEXT
) STRICT;
