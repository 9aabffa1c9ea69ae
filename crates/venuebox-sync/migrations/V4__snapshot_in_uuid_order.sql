-- The pre-show download reads a production in uuid order, a chunk at a time (rows after the
-- last uuid read, in uuid order, up to a limit). With only an index on production_id, each
-- chunk fetched and sorted the whole production (20-29 ms for a chunk of 1,000 of a
-- 10,000-row production, growing with the production: a download's time was quadratic in its
-- size). In (production_id, uuid) order a chunk is one index range (5 ms). This index takes
-- the place of the one on production_id alone, which it serves as well (every query by
-- production asks for live rows), so a push maintains no more indexes than before.
CREATE INDEX hub_entities_production_uuid ON hub_entities (production_id, uuid)
    WHERE deleted_hlc IS NULL;
DROP INDEX hub_entities_by_production;

-- One chunk of a production's snapshot: its own row, its rows and the global data (not
-- other productions' rows), after p_after in uuid order, the JSON as text. Each of the three
-- parts is an index range in uuid order, merged. A production pushed a minute ago has no
-- statistics yet (autovacuum has not analyzed it), and the planner, expecting a row or two,
-- then fetched the whole production with a bitmap scan and sorted it for every chunk: bitmap
-- scans are off inside this function, which leaves the index range in uuid order as the
-- cheapest plan whatever the statistics say. (The global data, a few hundred rows, is sorted.)
CREATE FUNCTION venuebox_snapshot_chunk(p_production text, p_production_kind text,
    p_after text, p_limit bigint)
RETURNS TABLE (uuid text, kind text, production_id text, data text, clocks text)
LANGUAGE sql STABLE
SET enable_bitmapscan = off
AS $$
    SELECT c.uuid, c.kind, c.production_id, c.data::text, c.clocks::text FROM (
        (SELECT * FROM hub_entities e WHERE e.uuid = p_production AND e.uuid > p_after
            AND e.deleted_hlc IS NULL)
        UNION ALL
        (SELECT * FROM hub_entities e WHERE e.production_id = p_production
            AND e.uuid > p_after AND e.deleted_hlc IS NULL ORDER BY e.uuid LIMIT p_limit)
        UNION ALL
        (SELECT * FROM hub_entities e WHERE e.production_id IS NULL
            AND e.kind <> p_production_kind AND e.uuid > p_after AND e.deleted_hlc IS NULL
            ORDER BY e.uuid LIMIT p_limit)
        ORDER BY uuid LIMIT p_limit) c
    ORDER BY c.uuid
$$;
