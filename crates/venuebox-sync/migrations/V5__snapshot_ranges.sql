-- The pre-show download reads a snapshot two chunks at a time, on two connections: one
-- PostgreSQL backend turns one chunk's jsonb into text (~10 ms for 1,000 rows) while another
-- does the next, and over a slow link two round trips overlap. A chunk read by "after the
-- last uuid of the chunk before" cannot be asked for before that chunk arrives, so the
-- download first asks where its chunks end (every p_every-th uuid of the snapshot after
-- p_after), then reads each range (p_after, p_upto] in full. Ranges cover the snapshot
-- whatever changes meanwhile; what changes after the download's start sequence arrives
-- through the log, as before. What lies after the last bound is read as before
-- (venuebox_snapshot_chunk). Same planner settings as venuebox_snapshot_chunk (V4), for the
-- same reasons: index ranges in uuid order whatever the statistics, no JIT.
CREATE FUNCTION venuebox_snapshot_bounds(p_production text, p_production_kind text,
    p_after text, p_every bigint)
RETURNS SETOF text
LANGUAGE sql STABLE
SET enable_bitmapscan = off
SET enable_sort = off
SET jit = off
AS $$
    SELECT s.uuid FROM (
        SELECT u.uuid, row_number() OVER (ORDER BY u.uuid) AS n FROM (
            (SELECT e.uuid FROM hub_entities e WHERE e.uuid = p_production AND e.uuid > p_after
                AND e.deleted_hlc IS NULL)
            UNION ALL
            (SELECT e.uuid FROM hub_entities e WHERE e.production_id = p_production
                AND e.uuid > p_after AND e.deleted_hlc IS NULL ORDER BY e.uuid)
            UNION ALL
            (SELECT e.uuid FROM hub_entities e WHERE e.production_id IS NULL
                AND e.deleted_hlc IS NULL AND e.kind <> p_production_kind AND e.uuid > p_after
                ORDER BY e.uuid)
            ORDER BY uuid) u
        ) s
    WHERE s.n % p_every = 0
    ORDER BY s.n
$$;

CREATE FUNCTION venuebox_snapshot_range(p_production text, p_production_kind text,
    p_after text, p_upto text)
RETURNS TABLE (uuid text, kind text, production_id text, data text, clocks text)
LANGUAGE sql STABLE
SET enable_bitmapscan = off
SET enable_sort = off
SET jit = off
AS $$
    SELECT c.uuid, c.kind, c.production_id, c.data::text, c.clocks::text FROM (
        (SELECT * FROM hub_entities e WHERE e.uuid = p_production AND e.uuid > p_after
            AND e.uuid <= p_upto AND e.deleted_hlc IS NULL)
        UNION ALL
        (SELECT * FROM hub_entities e WHERE e.production_id = p_production
            AND e.uuid > p_after AND e.uuid <= p_upto AND e.deleted_hlc IS NULL
            ORDER BY e.uuid)
        UNION ALL
        (SELECT * FROM hub_entities e WHERE e.production_id IS NULL AND e.deleted_hlc IS NULL
            AND e.kind <> p_production_kind AND e.uuid > p_after AND e.uuid <= p_upto
            ORDER BY e.uuid)
        ORDER BY uuid) c
    ORDER BY c.uuid
$$;
