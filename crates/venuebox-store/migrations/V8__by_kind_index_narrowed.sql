-- Issue #17, write amplification: every create and delete also wrote a leaf of
-- `entities_by_kind`, one WAL page of the ~9.7 a lone create appends. Its readers did not need
-- it: the lists of a global kind (productions, the library, the settings lists) now ask for
-- `production_id IS NULL` (a global kind's rows have no production) and take
-- `entities_by_production`; what is left are the lookups of a device's ports and a port's
-- cables across productions (`read::list_by_field`), and those two kinds keep a narrow index
-- of their own, written only when a port or a cable is.
DROP INDEX entities_by_kind;
-- Written as OR, not IN: SQLite takes a partial index when the query's `kind = 'cable'`
-- implies its condition, and it proves that for an OR of equalities, not for an IN list.
CREATE INDEX entities_linked_by_kind ON entities (kind, is_deleted)
    WHERE kind = 'devicePort' OR kind = 'cable';
