-- The hub merges on its own side (issue #15). A push is one call, venuebox_push(), that
-- takes the whole batch as one JSON parameter and runs under the log lock in one implicit
-- transaction: the hub never waits on a client while it holds anything another node needs.
-- A pull is one call too. The rules are the ones in crates/README.md, "Sync"; the node side
-- is venuebox-store's replica module.

-- The highest change-log sequence purged so far (0: nothing purged). A node is stale only
-- if its cursor is below it: it missed an entry that is gone. (The old key, one past the
-- purge point, declared every caught-up node stale after a quiet window.)
INSERT INTO hub_meta (key, value)
SELECT 'pruned_through_seq', greatest(value::bigint - 1, 0)::text
FROM hub_meta WHERE key = 'pruned_before_seq';
DELETE FROM hub_meta WHERE key = 'pruned_before_seq';

-- Display-id collisions of rows created apart are found by this (see venuebox_new_row). A
-- column of its own rather than an index on data->>'id': an update that leaves the label
-- alone then leaves every index alone (a HOT update), and the free space per page makes
-- room for it.
ALTER TABLE hub_entities ADD COLUMN display_id text GENERATED ALWAYS AS (data->>'id') STORED;
CREATE INDEX hub_entities_display ON hub_entities (production_id, kind, display_id)
    WHERE deleted_hlc IS NULL;
ALTER TABLE hub_entities SET (fillfactor = 80);

CREATE FUNCTION venuebox_meta(p_key text) RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT value::bigint FROM hub_meta WHERE key = p_key $$;

-- The newest sequence of the log, never below what was purged (an emptied log keeps its
-- head, so a node's cursor is never ahead of a hub that merely pruned).
CREATE FUNCTION venuebox_head() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT greatest(coalesce((SELECT max(seq) FROM hub_changes), 0),
                    venuebox_meta('pruned_through_seq'))
$$;

CREATE FUNCTION venuebox_now_ms() RETURNS bigint
LANGUAGE sql VOLATILE AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

-- Hybrid logical clocks as text: "{ms:013}-{counter:04x}-{node}". The text sorts like the
-- clock under the "C" collation (never the database's, which may ignore the dashes).
CREATE FUNCTION venuebox_clock_valid(p_clock text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(p_clock ~ '^[0-9]{13}-[0-9a-f]{4}-.+$', false) $$;

CREATE FUNCTION venuebox_clock_node(p_clock text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN venuebox_clock_valid(p_clock) THEN substr(p_clock, 20) END
$$;

-- Did a writer on p_node, whose change replaced the value it held with clock p_base, not
-- know the value now held with p_current? Not when it had seen it, or wrote it itself.
CREATE FUNCTION venuebox_concurrent(p_base text, p_current text, p_node text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(p_current, '') <> ''
       AND coalesce(p_base, '') <> p_current
       AND venuebox_clock_node(p_current) IS DISTINCT FROM p_node
$$;

-- The clock a change is stored with: its own, unless it is more than p_drift ahead of the
-- hub's time; then the hub's time, just after the field's current clock. A box whose clock
-- runs a day fast competes at its arrival time, and its clock never spreads.
CREATE FUNCTION venuebox_admit(p_incoming text, p_current text, p_now bigint, p_drift bigint)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_ms bigint;
    v_counter int;
    v_floor text := lpad(p_now::text, 13, '0') || '-0000-';
BEGIN
    IF substr(p_incoming, 1, 13)::bigint <= p_now + p_drift THEN
        RETURN p_incoming;
    END IF;
    IF venuebox_clock_valid(p_current) AND p_current COLLATE "C" > v_floor COLLATE "C" THEN
        v_ms := substr(p_current, 1, 13)::bigint;
        v_counter := ('x' || substr(p_current, 15, 4))::bit(16)::int;
    ELSE
        v_ms := p_now;
        v_counter := 0;
    END IF;
    IF p_now > v_ms THEN
        v_ms := p_now;
        v_counter := 0;
    ELSIF v_counter = 65535 THEN
        v_ms := v_ms + 1;
        v_counter := 0;
    ELSE
        v_counter := v_counter + 1;
    END IF;
    RETURN lpad(v_ms::text, 13, '0') || '-' || lpad(to_hex(v_counter), 4, '0') || '-'
        || substr(p_incoming, 20);
END $$;

-- One field's merge: the larger (clock, then value text for an exact clock tie, which only
-- the same change can have) wins. Returns 1 when the incoming state wins, -1 when the current
-- one stays, 0 when they are the same state. A join on a total order: commutative,
-- associative, idempotent (tests/sync/merge.rs checks it on this function).
CREATE FUNCTION venuebox_compare(p_value jsonb, p_clock text, p_other jsonb, p_other_clock text)
RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN coalesce(p_clock, '') COLLATE "C" > coalesce(p_other_clock, '') COLLATE "C" THEN 1
        WHEN coalesce(p_clock, '') COLLATE "C" < coalesce(p_other_clock, '') COLLATE "C" THEN -1
        WHEN coalesce(p_value, 'null'::jsonb)::text COLLATE "C"
             > coalesce(p_other, 'null'::jsonb)::text COLLATE "C" THEN 1
        WHEN coalesce(p_value, 'null'::jsonb)::text COLLATE "C"
             < coalesce(p_other, 'null'::jsonb)::text COLLATE "C" THEN -1
        ELSE 0 END
$$;

-- The conflict one field's merge logs, if any (`p_order` is venuebox_compare of the incoming
-- state against the current one): a losing value always; a winner's overwritten value when
-- its writer had not seen it (and the winner is not a restatement). Used by both push paths.
CREATE FUNCTION venuebox_field_conflict(p_column text, p_order int, p_incoming jsonb,
    p_admitted text, p_current jsonb, p_current_clock text, p_base text, p_replay boolean,
    p_node text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_order < 0 THEN jsonb_build_object('column', p_column, 'reason', 'concurrent',
            'winnerValue', p_current, 'winnerHlc', p_current_clock,
            'loserValue', p_incoming, 'loserHlc', p_admitted)
        WHEN p_order > 0 AND NOT p_replay AND venuebox_concurrent(p_base, p_current_clock, p_node)
            THEN jsonb_build_object('column', p_column, 'reason', 'concurrent',
            'winnerValue', p_incoming, 'winnerHlc', p_admitted,
            'loserValue', p_current, 'loserHlc', p_current_clock)
        END
$$;

CREATE FUNCTION venuebox_conflict(p_column text, p_reason text, p_winner jsonb,
    p_winner_hlc text, p_loser jsonb, p_loser_hlc text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('column', p_column, 'reason', p_reason,
        'winnerValue', coalesce(p_winner, 'null'::jsonb), 'winnerHlc', p_winner_hlc,
        'loserValue', coalesce(p_loser, 'null'::jsonb), 'loserHlc', p_loser_hlc)
$$;

-- Why a row of production p_production cannot be written by p_node now, if it cannot.
CREATE FUNCTION venuebox_refusal(p_node text, p_production text, p_header boolean)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_deleted boolean;
    v_holder text;
BEGIN
    IF p_production IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT deleted_hlc IS NOT NULL INTO v_deleted FROM hub_entities WHERE uuid = p_production;
    SELECT node_id INTO v_holder FROM hub_locks WHERE production_id = p_production;
    -- A production's own row is judged by its tombstone (a re-create may revive it).
    IF v_deleted AND NOT p_header THEN
        RETURN 'production deleted';
    ELSIF v_deleted IS NULL AND NOT p_header THEN
        RETURN 'production missing';
    ELSIF v_holder IS NOT NULL AND v_holder <> p_node THEN
        RETURN 'locked';
    END IF;
    RETURN NULL;
END $$;

-- A refused change must not linger on the node that made it: every field it touched goes
-- to the conflict log, and the verdict restates what the hub holds for those fields (or
-- deletes the row where the hub has none), which every node, the sender included, takes.
CREATE FUNCTION venuebox_refused(p_entry jsonb, p_reason text, p_found boolean,
    p_data jsonb, p_clocks jsonb, p_deleted boolean) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_conflicts jsonb := '[]';
    v_clocks jsonb := '{}';
    v_column text;
    v_value jsonb;
BEGIN
    FOR v_column, v_value IN SELECT key, value FROM jsonb_each(p_entry->'fields') LOOP
        IF p_found AND NOT p_deleted THEN
            v_conflicts := v_conflicts || venuebox_conflict(v_column, p_reason,
                p_data->v_column, p_clocks->>v_column, v_value, p_entry->'clocks'->>v_column);
            v_clocks := v_clocks || jsonb_build_object(v_column,
                coalesce(p_clocks->>v_column, ''));
        ELSE
            v_conflicts := v_conflicts || venuebox_conflict(v_column, p_reason, NULL, NULL,
                v_value, p_entry->'clocks'->>v_column);
        END IF;
    END LOOP;
    IF p_found AND NOT p_deleted THEN
        RETURN jsonb_build_object('op', 'upsert', 'data', p_data, 'clocks', v_clocks,
            'conflicts', v_conflicts);
    END IF;
    RETURN jsonb_build_object('op', 'delete', 'data', '{}'::jsonb, 'clocks', '{}'::jsonb,
        'conflicts', v_conflicts);
END $$;

-- A row as the push found it (locked): whether it exists, under which production, its data,
-- clocks and tombstone.
CREATE TYPE venuebox_row AS (found boolean, production_id text, data jsonb, clocks jsonb,
    deleted_hlc text);

-- The merge of one entry's fields into a live row, for the one-by-one path: per field, the
-- larger (clock, value) wins (venuebox_compare), conflicts by venuebox_field_conflict (the
-- batch path in venuebox_push applies the same two to many rows at once). Returns {data,
-- clocks, touched, conflicts}: the row's new data and clocks, the touched fields' clocks.
CREATE FUNCTION venuebox_merge_fields(p_node text, p_entry jsonb, p_data jsonb, p_clocks jsonb,
    p_now bigint, p_drift bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_replay boolean := coalesce((p_entry->>'replay')::boolean, false);
    v_data jsonb := p_data;
    v_clocks jsonb := p_clocks;
    v_touched jsonb := '{}';
    v_conflicts jsonb := '[]';
    v_column text;
    v_incoming jsonb;
    v_current jsonb;
    v_current_clock text;
    v_admitted text;
    v_order int;
    v_conflict jsonb;
BEGIN
    FOR v_column, v_incoming IN SELECT key, value FROM jsonb_each(p_entry->'fields') LOOP
        v_current := coalesce(v_data->v_column, 'null');
        v_current_clock := coalesce(v_clocks->>v_column, '');
        v_admitted := venuebox_admit(p_entry->'clocks'->>v_column, v_current_clock, p_now, p_drift);
        v_order := venuebox_compare(v_incoming, v_admitted, v_current, v_current_clock);
        v_conflict := venuebox_field_conflict(v_column, v_order, v_incoming, v_admitted,
            v_current, v_current_clock, p_entry->'bases'->>v_column, v_replay, p_node);
        IF v_conflict IS NOT NULL THEN
            v_conflicts := v_conflicts || v_conflict;
        END IF;
        IF v_order > 0 THEN
            v_data := jsonb_set(v_data, ARRAY[v_column], v_incoming);
            v_clocks := jsonb_set(v_clocks, ARRAY[v_column], to_jsonb(v_admitted));
            v_touched := jsonb_set(v_touched, ARRAY[v_column], to_jsonb(v_admitted));
        ELSE
            v_touched := jsonb_set(v_touched, ARRAY[v_column], to_jsonb(v_current_clock));
        END IF;
    END LOOP;
    RETURN jsonb_build_object('data', v_data, 'clocks', v_clocks, 'touched', v_touched,
        'conflicts', v_conflicts);
END $$;

-- A row the hub has never seen (or a re-create): the entry's whole row with the touched
-- fields stamped. Rows created apart that got the same generated label ("SRC 5" on two
-- boxes, p_taken): the one that arrives second takes the next free number, and the conflict
-- log says so. Returns {data, clocks, conflicts}.
CREATE FUNCTION venuebox_new_row(p_entry jsonb, p_production text, p_taken boolean,
    p_now bigint, p_drift bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_data jsonb := coalesce(p_entry->'row', '{}') || (p_entry->'fields');
    v_clocks jsonb;
    v_conflicts jsonb := '[]';
    v_prefix text := p_entry->>'displayPrefix';
    v_display text := v_data->>'id';
    v_next bigint;
BEGIN
    IF (p_entry->>'newestMs')::bigint <= p_now + p_drift THEN
        -- No clock ahead of the hub (the node says which is its newest): taken as sent.
        v_clocks := p_entry->'clocks';
    ELSE
        SELECT coalesce(jsonb_object_agg(f.key,
                   venuebox_admit(p_entry->'clocks'->>f.key, '', p_now, p_drift)), '{}')
            INTO v_clocks FROM jsonb_object_keys(p_entry->'fields') AS f(key);
    END IF;
    IF NOT v_data ? '_deleted' THEN
        v_data := v_data || '{"_deleted": false}';
    END IF;
    IF p_taken THEN
        SELECT coalesce(max(substring(display_id FROM '^' || v_prefix || ' ([0-9]+)$')::bigint), 0) + 1
            INTO v_next FROM hub_entities
            WHERE production_id = p_production AND kind = p_entry->>'kind'
            AND deleted_hlc IS NULL;
        v_data := v_data || jsonb_build_object('id', v_prefix || ' ' || v_next);
        v_conflicts := jsonb_build_array(venuebox_conflict('id', 'renumbered',
            v_data->'id', v_clocks->>'id', to_jsonb(v_display), v_clocks->>'id'));
    END IF;
    RETURN jsonb_build_object('data', v_data, 'clocks', v_clocks, 'conflicts', v_conflicts);
END $$;

-- Whether a new row's generated label is already a live row's in its production. (PL/pgSQL
-- rather than SQL so its query plan is kept between calls.)
CREATE FUNCTION venuebox_label_taken(p_entry jsonb, p_production text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_prefix text := p_entry->>'displayPrefix';
    v_label text := coalesce(p_entry->'fields'->>'id', p_entry->'row'->>'id');
BEGIN
    IF v_prefix IS NULL OR p_production IS NULL OR v_label IS NULL
       OR v_label !~ ('^' || v_prefix || ' [0-9]+$') THEN
        RETURN false;
    END IF;
    RETURN EXISTS (SELECT 1 FROM hub_entities WHERE production_id = p_production
        AND kind = p_entry->>'kind' AND deleted_hlc IS NULL AND display_id = v_label
        AND uuid <> p_entry->>'uuid' AND (data->>'_deleted') IS DISTINCT FROM 'true');
END $$;

-- Create or change fields of a row (p_entry.op = 'upsert'), written at once: the path for
-- entries whose order matters (see venuebox_push).
CREATE FUNCTION venuebox_upsert(p_node text, p_entry jsonb, p_production text,
    p_row venuebox_row, p_now bigint, p_drift bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_uuid text := p_entry->>'uuid';
    v_found boolean := p_row.found;
    v_merged jsonb;
BEGIN
    -- A tombstone stands against every change, except a create made after seeing it (the
    -- node's base for _deleted is the tombstone's clock, or the tombstone is its own): then
    -- the row lives again with exactly the new row's values.
    IF v_found AND p_row.deleted_hlc IS NOT NULL THEN
        IF p_entry->'fields' ? '_deleted' AND p_entry->'bases' ? '_deleted'
           AND NOT venuebox_concurrent(p_entry->'bases'->>'_deleted', p_row.deleted_hlc, p_node) THEN
            DELETE FROM hub_entities WHERE uuid = v_uuid;
            v_found := false;
        ELSE
            RETURN venuebox_refused(p_entry, 'deleted', true, p_row.data, p_row.clocks, true);
        END IF;
    END IF;
    IF NOT v_found THEN
        v_merged := venuebox_new_row(p_entry, p_production,
            venuebox_label_taken(p_entry, p_production), p_now, p_drift);
        INSERT INTO hub_entities (uuid, kind, production_id, data, clocks)
            VALUES (v_uuid, p_entry->>'kind', CASE WHEN coalesce((p_entry->>'header')::boolean, false)
                THEN p_entry->>'productionId' ELSE p_production END,
                v_merged->'data', v_merged->'clocks');
        RETURN jsonb_build_object('op', 'upsert', 'data', v_merged->'data',
            'clocks', v_merged->'clocks', 'conflicts', v_merged->'conflicts');
    END IF;
    v_merged := venuebox_merge_fields(p_node, p_entry, p_row.data, p_row.clocks, p_now, p_drift);
    UPDATE hub_entities SET data = v_merged->'data', clocks = v_merged->'clocks'
        WHERE uuid = v_uuid;
    RETURN jsonb_build_object('op', 'upsert', 'data', v_merged->'data',
        'clocks', v_merged->'touched', 'conflicts', v_merged->'conflicts');
END $$;

-- A hard delete: a tombstone, which wins. The entry's bases are the row's per-field clocks
-- as the deleter held them: every value at the hub the deleter had not seen (another node's
-- clock that differs from what it held) goes to the conflict log, reason 'deleted'.
CREATE FUNCTION venuebox_delete(p_node text, p_entry jsonb, p_production text,
    p_row venuebox_row, p_now bigint, p_drift bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_uuid text := p_entry->>'uuid';
    v_seen jsonb := coalesce(p_entry->'bases', '{}');
    v_stamp text := venuebox_admit(p_entry->'clocks'->>'_deleted', '', p_now, p_drift);
    v_conflicts jsonb := '[]';
    v_column text;
    v_clock text;
    v_legacy boolean;
BEGIN
    IF NOT p_row.found THEN
        INSERT INTO hub_entities (uuid, kind, production_id, data, deleted_hlc, deleted_at)
            VALUES (v_uuid, p_entry->>'kind', CASE WHEN coalesce((p_entry->>'header')::boolean, false)
                THEN p_entry->>'productionId' ELSE p_production END, '{}', v_stamp, now());
    ELSIF p_row.deleted_hlc IS NULL THEN
        -- Entries queued by an older version carry only the newest clock the deleter held.
        v_legacy := NOT EXISTS (SELECT 1 FROM jsonb_object_keys(v_seen) k WHERE k <> '_deleted');
        FOR v_column, v_clock IN SELECT key, value FROM jsonb_each_text(p_row.clocks) LOOP
            IF v_clock <> '' AND venuebox_clock_node(v_clock) IS DISTINCT FROM p_node AND (
                   (v_legacy AND v_clock COLLATE "C" > coalesce(v_seen->>'_deleted', '') COLLATE "C")
                OR (NOT v_legacy AND (v_seen->>v_column) IS DISTINCT FROM v_clock)) THEN
                v_conflicts := v_conflicts || venuebox_conflict(v_column, 'deleted', NULL,
                    v_stamp, p_row.data->v_column, v_clock);
            END IF;
        END LOOP;
        UPDATE hub_entities SET deleted_hlc = v_stamp, deleted_at = now() WHERE uuid = v_uuid;
        IF coalesce((p_entry->>'header')::boolean, false) THEN
            UPDATE hub_entities SET deleted_hlc = v_stamp, deleted_at = now()
                WHERE production_id = v_uuid AND deleted_hlc IS NULL;
            DELETE FROM hub_locks WHERE production_id = v_uuid;
        END IF;
    END IF;
    RETURN jsonb_build_object('op', 'delete', 'data', '{}'::jsonb,
        'clocks', jsonb_build_object('_deleted', v_stamp), 'conflicts', v_conflicts);
END $$;

-- A conflict resolved on a node: the first resolution stands; a later one is logged with it.
CREATE FUNCTION venuebox_resolve(p_node text, p_entry jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint := coalesce((p_entry->'fields'->>'conflictId')::bigint, 0);
    v_resolution text := coalesce(p_entry->'fields'->>'resolution', 'ours');
    v_stored text;
BEGIN
    UPDATE hub_conflicts SET resolved_at = coalesce(resolved_at, now()),
        resolution = coalesce(resolution, v_resolution),
        resolved_by = coalesce(resolved_by, p_node)
        WHERE id = v_id RETURNING resolution INTO v_stored;
    RETURN jsonb_build_object('op', 'resolve', 'data', '{}'::jsonb, 'clocks', '{}'::jsonb,
        'conflicts', '[]'::jsonb, 'resolved',
        jsonb_build_object('id', v_id, 'resolution', coalesce(v_stored, v_resolution)));
END $$;

-- The hub's verdict on one entry. The production a row belongs to is the one the hub holds
-- it under (a node cannot move a row, or dodge a lock, by naming another production).
-- `p_writable` lists productions this push already found live and not locked by another
-- node; the verdict's `writable` adds one.
CREATE FUNCTION venuebox_apply(p_node text, p_entry jsonb, p_now bigint, p_drift bigint,
    p_writable text[]) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_uuid text := p_entry->>'uuid';
    v_op text := p_entry->>'op';
    v_header boolean := coalesce((p_entry->>'header')::boolean, false);
    v_row venuebox_row;
    v_production text;
    v_refusal text;
    v_writable text;
    v_verdict jsonb;
BEGIN
    IF v_op = 'resolve' THEN
        RETURN venuebox_resolve(p_node, p_entry)
            || jsonb_build_object('productionId', p_entry->'productionId');
    END IF;
    -- No row lock: every writer of hub_entities (push, prune) holds the log's advisory lock.
    SELECT true, production_id, data, clocks, deleted_hlc INTO v_row
        FROM hub_entities WHERE uuid = v_uuid;
    v_row.found := coalesce(v_row.found, false);
    v_production := CASE WHEN v_header THEN v_uuid
                         WHEN v_row.found THEN v_row.production_id
                         ELSE p_entry->>'productionId' END;
    -- A clock that does not parse would sort above every real one: refuse the change.
    IF jsonb_path_exists(p_entry->'clocks',
            '$.* ? (!(@ like_regex "^[0-9]{13}-[0-9a-f]{4}-.+$"))')
       OR (v_op = 'delete' AND NOT venuebox_clock_valid(p_entry->'clocks'->>'_deleted')) THEN
        v_refusal := 'invalid clock';
    ELSIF v_production IS NOT NULL AND NOT (v_production = ANY(p_writable)) THEN
        v_refusal := venuebox_refusal(p_node, v_production, v_header);
        IF v_refusal IS NULL AND NOT v_header THEN
            v_writable := v_production;
        END IF;
    END IF;
    IF v_op = 'delete' THEN
        IF v_refusal IN ('locked', 'invalid clock') THEN
            -- The row stays; the deleting node gets it back, whole, and the refusal is logged.
            v_verdict := jsonb_build_object('op', 'refused', 'data', '{}'::jsonb,
                'clocks', '{}'::jsonb, 'conflicts', jsonb_build_array(venuebox_conflict(
                    '_deleted', v_refusal, 'false', NULL, 'true', p_entry->'clocks'->>'_deleted')));
            IF v_row.found AND v_row.deleted_hlc IS NULL THEN
                v_verdict := v_verdict || jsonb_build_object('op', 'upsert', 'data', v_row.data,
                    'clocks', (SELECT coalesce(jsonb_object_agg(key,
                        coalesce(v_row.clocks->>key, '')), '{}') FROM jsonb_object_keys(v_row.data) key));
            END IF;
        ELSE
            v_verdict := venuebox_delete(p_node, p_entry, v_production, v_row, p_now, p_drift);
        END IF;
    ELSIF v_refusal IS NOT NULL THEN
        v_verdict := venuebox_refused(p_entry, v_refusal, v_row.found, v_row.data, v_row.clocks,
            v_row.deleted_hlc IS NOT NULL);
    ELSE
        v_verdict := venuebox_upsert(p_node, p_entry, v_production, v_row, p_now, p_drift);
    END IF;
    RETURN v_verdict || jsonb_build_object('productionId',
        CASE WHEN v_header THEN p_entry->'productionId' ELSE to_jsonb(v_production) END,
        'scope', to_jsonb(v_production), 'writable', to_jsonb(v_writable));
END $$;

-- The push: a batch of one node's outbox, whole, in one call and one transaction. `p_kinds`
-- carries the facts of each kind the merge needs from the node's registry (the hub has no
-- registry of its own): `header` (its rows are productions) and `displayPrefix`. Entries
-- at or below the node's last applied sequence are skipped (a retry after a lost answer) and
-- acknowledged again; a gap is refused. Each entry gets its verdict from venuebox_apply, in
-- order; the verdicts are logged together at the end, in entry order. Returns {acks:
-- [[node_seq, hub seq]], applied, conflicts, headSeq, lastSeq}.
CREATE FUNCTION venuebox_push(p_node text, p_cursor bigint, p_entries jsonb, p_kinds jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_pruned bigint;
    v_drift bigint;
    v_now bigint;
    v_last bigint;
    v_first bigint;
    v_entry jsonb;
    v_seq bigint;
    v_verdict jsonb;
    v_conflict jsonb;
    v_records jsonb;
    v_id bigint;
    v_created text;
    v_applied int := 0;
    v_conflicts int := 0;
    v_acks jsonb;
    v_head bigint;
    -- Productions found live and not locked by another node in this push.
    v_writable text[] := '{}';
    -- The log rows, gathered in entry order and inserted with one statement.
    v_ops text[] := '{}';
    v_kinds text[] := '{}';
    v_uuids text[] := '{}';
    v_productions text[] := '{}';
    v_scopes text[] := '{}';
    v_datas jsonb[] := '{}';
    v_clocks jsonb[] := '{}';
    v_seqs bigint[] := '{}';
    v_actors text[] := '{}';
    v_conflict_lists jsonb[] := '{}';
    v_resolutions jsonb[] := '{}';
BEGIN
    -- Every writer of the log (and of hub_entities) takes this lock, so sequence order is
    -- commit order, a reader's snapshot is always a prefix of the log, and rows read here
    -- cannot change underneath.
    PERFORM pg_advisory_xact_lock(8531346519614451576);
    v_pruned := venuebox_meta('pruned_through_seq');
    IF p_cursor < v_pruned THEN
        RAISE EXCEPTION USING ERRCODE = 'VB001', MESSAGE = 'stale',
            DETAIL = jsonb_build_object('cursor', p_cursor, 'prunedThrough', v_pruned)::text;
    END IF;
    v_drift := venuebox_meta('max_clock_drift_ms');
    v_now := venuebox_now_ms();
    INSERT INTO hub_nodes (node_id) VALUES (p_node)
        ON CONFLICT (node_id) DO UPDATE SET last_seen = now() RETURNING last_seq INTO v_last;
    v_first := v_last;
    FOR v_entry IN SELECT value FROM jsonb_array_elements(p_entries) LOOP
        v_seq := (v_entry->>'nodeSeq')::bigint;
        CONTINUE WHEN v_seq <= v_last;
        IF v_seq <> v_last + 1 THEN
            RAISE EXCEPTION USING ERRCODE = 'VB002', MESSAGE = format(
                'outbox sequence gap: the hub has %s, the next entry is %s', v_last, v_seq);
        END IF;
        v_entry := v_entry || coalesce(p_kinds->(v_entry->>'kind'), '{}');
        v_verdict := venuebox_apply(p_node, v_entry, v_now, v_drift, v_writable);
        IF v_verdict->>'writable' IS NOT NULL THEN
            v_writable := v_writable || (v_verdict->>'writable');
        END IF;
        IF v_verdict->>'op' = 'delete' AND coalesce((v_entry->>'header')::boolean, false) THEN
            v_writable := '{}';
        END IF;
        v_records := '[]';
        IF jsonb_array_length(v_verdict->'conflicts') > 0 THEN
            FOR v_conflict IN SELECT value FROM jsonb_array_elements(v_verdict->'conflicts') LOOP
                INSERT INTO hub_conflicts (kind, uuid, production_id, column_name, reason,
                    winner_value, winner_hlc, winner_node, loser_value, loser_hlc, loser_node)
                VALUES (v_entry->>'kind', v_entry->>'uuid', v_verdict->>'productionId',
                    v_conflict->>'column', v_conflict->>'reason', v_conflict->'winnerValue',
                    v_conflict->>'winnerHlc', venuebox_clock_node(v_conflict->>'winnerHlc'),
                    v_conflict->'loserValue', v_conflict->>'loserHlc',
                    coalesce(venuebox_clock_node(v_conflict->>'loserHlc'), p_node))
                RETURNING id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                    INTO v_id, v_created;
                v_records := v_records || jsonb_build_object('id', v_id,
                    'kind', v_entry->>'kind', 'uuid', v_entry->>'uuid',
                    'productionId', v_verdict->'productionId', 'column', v_conflict->>'column',
                    'reason', v_conflict->>'reason', 'winnerValue', v_conflict->'winnerValue',
                    'winnerHlc', v_conflict->'winnerHlc',
                    'winnerNode', venuebox_clock_node(v_conflict->>'winnerHlc'),
                    'loserValue', v_conflict->'loserValue', 'loserHlc', v_conflict->'loserHlc',
                    'loserNode', coalesce(venuebox_clock_node(v_conflict->>'loserHlc'), p_node),
                    'createdAt', v_created, 'resolvedAt', NULL, 'resolution', NULL);
            END LOOP;
        END IF;
        v_ops := v_ops || (v_verdict->>'op');
        v_kinds := v_kinds || (v_entry->>'kind');
        v_uuids := v_uuids || (v_entry->>'uuid');
        v_productions := v_productions || (v_verdict->>'productionId');
        v_scopes := v_scopes || (v_verdict->>'scope');
        v_datas := v_datas || (v_verdict->'data');
        v_clocks := v_clocks || (v_verdict->'clocks');
        v_seqs := v_seqs || v_seq;
        v_actors := v_actors || (v_entry->>'actor');
        v_conflict_lists := v_conflict_lists || v_records;
        v_resolutions := v_resolutions || (v_verdict->'resolved');
        v_conflicts := v_conflicts + jsonb_array_length(v_records);
        v_applied := v_applied + 1;
        v_last := v_seq;
    END LOOP;
    -- The log, in entry order; the acknowledgements: the entries logged now, and those a
    -- retry sent again.
    WITH logged AS (
        INSERT INTO hub_changes (op, kind, uuid, production_id, scope, data, clocks,
            origin_node, origin_seq, actor, conflicts, resolved)
        SELECT op, kind, uuid, production_id, scope, data, clocks, p_node, origin_seq, actor,
            conflicts, resolved
        FROM unnest(v_ops, v_kinds, v_uuids, v_productions, v_scopes, v_datas, v_clocks,
            v_seqs, v_actors, v_conflict_lists, v_resolutions) WITH ORDINALITY
            AS log(op, kind, uuid, production_id, scope, data, clocks, origin_seq, actor,
                conflicts, resolved, position)
        ORDER BY position
        RETURNING origin_seq, seq),
    again AS (
        SELECT origin_seq, seq FROM hub_changes WHERE origin_node = p_node
            AND origin_seq <= v_first AND origin_seq >= (p_entries->0->>'nodeSeq')::bigint)
    SELECT coalesce(jsonb_agg(jsonb_build_array(origin_seq, seq) ORDER BY origin_seq), '[]')
        INTO v_acks FROM (SELECT * FROM logged UNION ALL SELECT * FROM again) acked;
    UPDATE hub_nodes SET last_seq = v_last, pull_cursor = greatest(pull_cursor, p_cursor),
        last_seen = now() WHERE node_id = p_node;
    v_head := venuebox_head();
    IF v_applied > 0 THEN
        PERFORM pg_notify('venuebox_changes', v_head::text);
    END IF;
    RETURN jsonb_build_object('acks', v_acks, 'applied', v_applied, 'conflicts', v_conflicts,
        'headSeq', v_head, 'lastSeq', v_last);
END $$;

-- Hello: registers the node, reports what it must know, and checks that the hub is still
-- the one the node synced with. A hub restored from a dump keeps its epoch (it is in the
-- dump), so the node also says how far it got: its pull cursor with the origin of the entry
-- there, and the last outbox sequence the hub acknowledged. A hub that has forgotten either
-- lost changes it had acknowledged; 'restored' says why, and the node stops.
CREATE FUNCTION venuebox_hello(p_node text, p_name text, p_wall_ms bigint, p_cursor bigint,
    p_anchor jsonb, p_acked bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_now bigint := venuebox_now_ms();
    v_last bigint;
    v_head bigint := venuebox_head();
    v_pruned bigint := venuebox_meta('pruned_through_seq');
    v_origin text;
    v_origin_seq bigint;
    v_restored text;
BEGIN
    INSERT INTO hub_nodes (node_id, name, clock_skew_ms) VALUES (p_node, p_name, p_wall_ms - v_now)
        ON CONFLICT (node_id) DO UPDATE SET name = excluded.name,
            clock_skew_ms = excluded.clock_skew_ms, last_seen = now(),
            pull_cursor = greatest(hub_nodes.pull_cursor, p_cursor)
        RETURNING last_seq INTO v_last;
    IF p_cursor > v_head THEN
        v_restored := format('its change log ends at %s, before this box''s cursor %s',
            v_head, p_cursor);
    ELSIF p_anchor IS NOT NULL AND p_cursor > v_pruned THEN
        SELECT origin_node, origin_seq INTO v_origin, v_origin_seq
            FROM hub_changes WHERE seq = p_cursor;
        IF v_origin IS DISTINCT FROM p_anchor->>'originNode'
           OR v_origin_seq IS DISTINCT FROM (p_anchor->>'originSeq')::bigint THEN
            v_restored := format('its change-log entry %s is not the one this box pulled', p_cursor);
        END IF;
    END IF;
    IF v_restored IS NULL AND v_last < p_acked THEN
        v_restored := format('it holds this box''s changes up to %s, but had acknowledged %s',
            v_last, p_acked);
    END IF;
    RETURN jsonb_build_object(
        'epoch', (SELECT value FROM hub_meta WHERE key = 'epoch'),
        'lastSeq', v_last, 'headSeq', v_head, 'prunedThrough', v_pruned,
        'clockSkewMs', p_wall_ms - v_now,
        'maxClockDriftMs', venuebox_meta('max_clock_drift_ms'),
        'tombstoneWindowSecs', venuebox_meta('tombstone_window_secs'),
        'restored', v_restored);
END $$;

-- Purges tombstones and log entries older than the tombstone window; returns the highest
-- sequence purged so far.
CREATE FUNCTION venuebox_prune() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_window bigint;
    v_cutoff bigint;
    v_pruned bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(8531346519614451576);
    v_window := venuebox_meta('tombstone_window_secs');
    v_pruned := venuebox_meta('pruned_through_seq');
    SELECT max(seq) INTO v_cutoff FROM hub_changes
        WHERE at < now() - make_interval(secs => v_window::double precision);
    IF v_cutoff IS NOT NULL AND v_cutoff > v_pruned THEN
        DELETE FROM hub_changes WHERE seq <= v_cutoff;
        v_pruned := v_cutoff;
        UPDATE hub_meta SET value = v_pruned::text WHERE key = 'pruned_through_seq';
    END IF;
    DELETE FROM hub_entities WHERE deleted_at IS NOT NULL
        AND deleted_at < now() - make_interval(secs => v_window::double precision);
    RETURN v_pruned;
END $$;
