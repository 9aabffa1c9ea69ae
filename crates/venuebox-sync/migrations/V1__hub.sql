-- The hub: the shared state of every node, in PostgreSQL. Our schema, our migrations
-- (a separate set from the nodes' SQLite ones). See crates/README.md, "Sync".

-- epoch: made once when the hub is created. A node remembers it; a hub that was recreated or
-- restored from an old dump has a different one, and nodes stop instead of diverging.
CREATE TABLE hub_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO hub_meta (key, value) VALUES
    ('epoch', gen_random_uuid()::text),
    -- Deleted rows and change-log entries older than this are purged; a node that has not
    -- pulled for longer must download again.
    ('tombstone_window_secs', '2592000'),
    -- Clocks further ahead of the hub's own clock than this are restamped on arrival.
    ('max_clock_drift_ms', '300000'),
    -- The change log starts after this sequence (older entries were purged).
    ('pruned_before_seq', '0');

-- Per node: the last outbox sequence applied (exactly-once push) and its pull cursor.
CREATE TABLE hub_nodes (
    node_id       TEXT PRIMARY KEY,
    name          TEXT,
    last_seq      BIGINT NOT NULL DEFAULT 0,
    pull_cursor   BIGINT NOT NULL DEFAULT 0,
    clock_skew_ms BIGINT,
    first_seen    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The current state of every row, with a clock per field. Deleted rows keep a tombstone.
CREATE TABLE hub_entities (
    uuid          TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    production_id TEXT,
    data          JSONB NOT NULL,
    clocks        JSONB NOT NULL DEFAULT '{}',
    deleted_hlc   TEXT,
    deleted_at    TIMESTAMPTZ
);
CREATE INDEX hub_entities_by_production ON hub_entities (production_id);
CREATE INDEX hub_entities_by_kind ON hub_entities (kind);

-- The append-only change log; seq is the pull cursor. Exactly one entry per pushed outbox
-- entry (origin_node, origin_seq), holding the hub's verdict: the merged values of the
-- fields it touched, or why it was refused, and the conflicts it caused.
CREATE TABLE hub_changes (
    seq           BIGSERIAL PRIMARY KEY,
    op            TEXT NOT NULL CHECK (op IN ('upsert', 'delete', 'resolve', 'refused')),
    kind          TEXT NOT NULL,
    uuid          TEXT NOT NULL,
    production_id TEXT,
    -- The production this entry belongs to (a production's own uuid for its header row);
    -- NULL for global data (equipment library, formats, settings).
    scope         TEXT,
    data          JSONB NOT NULL DEFAULT '{}',
    clocks        JSONB NOT NULL DEFAULT '{}',
    origin_node   TEXT,
    origin_seq    BIGINT,
    actor         TEXT,
    conflicts     JSONB NOT NULL DEFAULT '[]',
    resolved      JSONB,
    at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX hub_changes_origin ON hub_changes (origin_node, origin_seq);
CREATE INDEX hub_changes_by_scope ON hub_changes (scope, seq);

-- Every value that lost a merge (or a refused change), until a person resolves it.
CREATE TABLE hub_conflicts (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,
    uuid          TEXT NOT NULL,
    production_id TEXT,
    column_name   TEXT NOT NULL,
    reason        TEXT NOT NULL,
    winner_value  JSONB,
    winner_hlc    TEXT,
    winner_node   TEXT,
    loser_value   JSONB,
    loser_hlc     TEXT,
    loser_node    TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at   TIMESTAMPTZ,
    resolution    TEXT,
    resolved_by   TEXT
);

-- A production held by one node for a show (issue #5).
CREATE TABLE hub_locks (
    production_id TEXT PRIMARY KEY,
    node_id       TEXT NOT NULL,
    node_name     TEXT,
    locked_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
