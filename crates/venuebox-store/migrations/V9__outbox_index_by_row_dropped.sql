-- Issue #17, write amplification: every local write also wrote a leaf of `sync_outbox_by_uuid`,
-- one WAL page of the ~8.3 a lone create appended. Its only readers asked "which of this
-- node's entries touch row X?" while applying a page of pulled changes or a download, and
-- those now read the outbox's (uuid, node_seq) pairs once per page in one pass
-- (replica::pull::Queued) and fetch the few entries they need by sequence.
DROP INDEX sync_outbox_by_uuid;
