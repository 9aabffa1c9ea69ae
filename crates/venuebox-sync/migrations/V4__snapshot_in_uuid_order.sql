-- The pre-show download reads a production in uuid order, a chunk at a time (rows after the
-- last uuid read, in uuid order, up to a limit). With only an index on production_id, each
-- chunk fetched and sorted the whole production (20-29 ms for a chunk of 1,000 of a
-- 10,000-row production, growing with the production: a download's time was quadratic in its
-- size). In (production_id, uuid) order a chunk of a production is one index range (5 ms),
-- and the global data (a few hundred rows) has a small index of its own in uuid order.
--
-- The production index takes the place of the one on production_id alone, which it serves
-- as well. It covers deleted rows too, as that one did: a partial index on live rows would
-- look as cheap to the planner as the display-id index (also on live rows) for the push's
-- label check, and with no statistics yet (a hub whose autovacuum has not run, or is off) the
-- push then chose it, walking a whole production for every new row.
CREATE INDEX hub_entities_production_uuid ON hub_entities (production_id, uuid);
DROP INDEX hub_entities_by_production;
CREATE INDEX hub_entities_global_uuid ON hub_entities (uuid)
    WHERE production_id IS NULL AND deleted_hlc IS NULL;

-- One chunk of a production's snapshot: its own row, its rows and the global data (not
-- other productions' rows), after p_after in uuid order, the JSON as text. Each of the three
-- parts is an index range in uuid order, merged. Bitmap scans and sorts are off inside this
-- function: with no statistics (a production pushed a minute ago) the planner, expecting a
-- row or two, otherwise fetched the whole production and sorted it for every chunk; without
-- them the index ranges in uuid order are the cheapest plan whatever the statistics say. The
-- penalty the planner gives a disabled plan (10^10) would also make it compile this query
-- to machine code (JIT) on every call, 100-300 ms each: JIT is off here too.
CREATE FUNCTION venuebox_snapshot_chunk(p_production text, p_production_kind text,
    p_after text, p_limit bigint)
RETURNS TABLE (uuid text, kind text, production_id text, data text, clocks text)
LANGUAGE sql STABLE
SET enable_bitmapscan = off
SET enable_sort = off
SET jit = off
AS $$
    SELECT c.uuid, c.kind, c.production_id, c.data::text, c.clocks::text FROM (
        (SELECT * FROM hub_entities e WHERE e.uuid = p_production AND e.uuid > p_after
            AND e.deleted_hlc IS NULL)
        UNION ALL
        (SELECT * FROM hub_entities e WHERE e.production_id = p_production
            AND e.uuid > p_after AND e.deleted_hlc IS NULL ORDER BY e.uuid LIMIT p_limit)
        UNION ALL
        (SELECT * FROM hub_entities e WHERE e.production_id IS NULL AND e.deleted_hlc IS NULL
            AND e.kind <> p_production_kind AND e.uuid > p_after ORDER BY e.uuid LIMIT p_limit)
        ORDER BY uuid LIMIT p_limit) c
    ORDER BY c.uuid
$$;
