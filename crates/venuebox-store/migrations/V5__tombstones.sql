-- Hard deletes this node made or pulled, kept for the hub's tombstone window (issue #15):
-- a row created again under the same id (a settings key, a production id) tells the hub it
-- saw the delete, so the re-create wins over the tombstone; and a box that restates its data
-- to a hub restored from a dump restates its deletes too. `seen` holds the row's per-field
-- clocks as this node held them when the row went.
CREATE TABLE sync_tombstones (
    uuid          TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    production_id TEXT,
    clock         TEXT NOT NULL,
    seen          TEXT NOT NULL,
    deleted_at    TEXT NOT NULL
) STRICT;

-- An entry that restates a value this box already held (queued when adopting a replaced
-- hub): the hub logs it as a conflict only when it loses.
ALTER TABLE sync_outbox ADD COLUMN replay INTEGER NOT NULL DEFAULT 0;

-- Acknowledgements (issue #15): the hub applies a node's entries strictly in order, so the
-- acknowledged entries are always a prefix of the outbox (meta `acked_seq` is its end); the
-- hub sequence of each acknowledged entry lives in this narrow table, instead of in the
-- outbox row itself (updating a row of a few kilobytes per acknowledgement was half of a
-- push's cost on the box).
CREATE TABLE sync_acks (
    node_seq INTEGER PRIMARY KEY NOT NULL,
    hub_seq  INTEGER NOT NULL
) STRICT;
CREATE INDEX sync_acks_by_hub_seq ON sync_acks (hub_seq);
INSERT INTO sync_acks (node_seq, hub_seq)
    SELECT node_seq, acked_seq FROM sync_outbox WHERE acked_seq IS NOT NULL;
INSERT INTO meta (key, value)
    SELECT 'acked_seq', CAST(max(node_seq) AS TEXT) FROM sync_acks WHERE node_seq IS NOT NULL
    HAVING count(*) > 0
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
DROP INDEX sync_outbox_unacked;
ALTER TABLE sync_outbox DROP COLUMN acked_seq;
