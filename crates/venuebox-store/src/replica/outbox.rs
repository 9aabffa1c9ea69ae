//! The outbox: one entry per local change, written by the write path in the same SQLite
//! transaction as the change, so a change and its entry commit (or vanish) together.
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    CREATED_FIELD, DELETED_FIELD, clocks_of, holdings, hub_state, meta_get, meta_set, parse_object,
    tombstones,
};
use crate::clock;
use crate::codec;
use crate::error::{Result, StoreError};
use crate::hlc::Hlc;
use crate::kinds::registry;
use crate::model::Entity;
use crate::writer::WriteTx;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxOp {
    /// Create or change fields (including `_deleted` for archive/restore).
    Upsert,
    /// A hard delete: a tombstone. For a production, everything in it goes too.
    Delete,
    /// A conflict resolved on this node (the chosen value, if any, is its own upsert).
    Resolve,
}

impl OutboxOp {
    fn as_str(self) -> &'static str {
        match self {
            OutboxOp::Upsert => "upsert",
            OutboxOp::Delete => "delete",
            OutboxOp::Resolve => "resolve",
        }
    }
    fn parse(text: &str) -> Result<OutboxOp> {
        match text {
            "upsert" => Ok(OutboxOp::Upsert),
            "delete" => Ok(OutboxOp::Delete),
            "resolve" => Ok(OutboxOp::Resolve),
            other => Err(StoreError::Corrupt(format!("outbox op {other:?}"))),
        }
    }
}

/// One local change waiting for the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    pub node_seq: i64,
    pub op: OutboxOp,
    pub kind: String,
    pub uuid: String,
    pub production_id: Option<String>,
    /// Changed columns and their new values.
    pub fields: Map<String, Value>,
    /// Column -> the clock of this change.
    pub clocks: Map<String, Value>,
    /// What the change saw. For an upsert: column -> the clock of the value it replaced (and,
    /// for a re-create, `_deleted` -> the tombstone's clock). For a delete: every field of the
    /// row -> its clock as this node held it, so the hub knows which values it overwrites
    /// unseen.
    pub bases: Map<String, Value>,
    /// The row after the change, so the hub can create a row it has never seen (a seeded
    /// row edited for the first time). It leaves out what `fields` already says (the hub
    /// takes the row as `row || fields`): a create's row is then `_deleted` and
    /// `_created_at`, not every value twice.
    pub row: Option<Map<String, Value>>,
    pub actor: Option<String>,
    pub created_at: String,
    /// Restates a value this box already held (adopting a replaced hub).
    #[serde(default)]
    pub replay: bool,
}

/// What one append to the outbox carries.
pub(crate) struct NewEntry<'a> {
    pub op: OutboxOp,
    pub kind: &'a str,
    pub uuid: &'a str,
    pub production_id: Option<&'a str>,
    pub fields: &'a Map<String, Value>,
    pub clocks: &'a Map<String, Value>,
    pub bases: &'a Map<String, Value>,
    pub row: Option<&'a Map<String, Value>>,
    pub actor: Option<&'a str>,
    pub replay: bool,
}

/// The one place an entry enters the outbox: numbered after everything before it.
pub(crate) fn append(conn: &Connection, entry: NewEntry<'_>) -> Result<i64> {
    let node_seq = next_node_seq(conn)?;
    conn.prepare_cached(
        "INSERT INTO sync_outbox (node_seq, op, kind, uuid, production_id, fields, clocks, \
         bases, row_data, actor, created_at, replay) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        node_seq,
        entry.op.as_str(),
        entry.kind,
        entry.uuid,
        entry.production_id,
        codec::json_text(entry.fields),
        codec::json_text(entry.clocks),
        codec::json_text(entry.bases),
        entry.row.map(|row| row_beyond_fields(row, entry.fields)),
        entry.actor,
        clock::now_iso(),
        entry.replay,
    ])?;
    Ok(node_seq)
}

/// The JSON of the part of `row` that `fields` does not already carry with the same value.
fn row_beyond_fields(row: &Map<String, Value>, fields: &Map<String, Value>) -> String {
    struct Beyond<'a>(&'a Map<String, Value>, &'a Map<String, Value>);
    impl Serialize for Beyond<'_> {
        fn serialize<S: serde::Serializer>(
            &self,
            serializer: S,
        ) -> std::result::Result<S::Ok, S::Error> {
            serializer.collect_map(
                self.0
                    .iter()
                    .filter(|(column, value)| self.1.get(*column) != Some(*value)),
            )
        }
    }
    serde_json::to_string(&Beyond(row, fields)).expect("a JSON object always serializes")
}

/// The last clock this node issued or saw, so a restart never issues an older one: the newest
/// of the floor kept in `meta` (written when pulls apply and when acknowledged entries are
/// dropped) and the clocks still in the outbox. Read once at start, so a write costs no
/// extra statement for it.
pub fn persisted_clock(conn: &Connection) -> Result<Option<String>> {
    let floor = meta_get(conn, "hlc_last")?;
    let queued: Option<String> = conn
        .query_row(
            "SELECT max(value) FROM sync_outbox, json_each(sync_outbox.clocks)",
            [],
            |row| row.get(0),
        )
        .optional()?
        .flatten();
    Ok(floor.into_iter().chain(queued).max())
}

/// The next outbox sequence: after every entry still queued and after the floor kept in
/// `meta` (raised when entries are dropped), so a sequence is never reused even when the
/// outbox empties.
fn next_node_seq(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT max(coalesce((SELECT max(node_seq) FROM sync_outbox), 0), \
             coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'outbox_seq'), 0)) + 1",
        )?
        .query_row([], |row| row.get(0))?)
}

/// The highest outbox sequence this node ever assigned.
pub fn last_node_seq(conn: &Connection) -> Result<i64> {
    Ok(next_node_seq(conn)? - 1)
}

/// Keeps the sequence floor above every entry, before entries are dropped.
pub(crate) fn keep_seq_floor(conn: &Connection) -> Result<()> {
    let last = last_node_seq(conn)?;
    meta_set(conn, "outbox_seq", &last.to_string())
}

/// After a restore from backup the hub may already hold sequences this database forgot:
/// continue numbering after them, so a new change is never mistaken for an old one.
pub fn advance_node_seq(conn: &Connection, hub_last: i64) -> Result<bool> {
    if hub_last > last_node_seq(conn)? {
        meta_set(conn, "outbox_seq", &hub_last.to_string())?;
        return Ok(true);
    }
    Ok(false)
}

/// How a local write changed a row, for the outbox.
pub enum LocalChange<'a> {
    /// A new row (every field is new), written with every field's clock `stamp` already.
    Create {
        entity: &'a Entity,
        stamp: Option<Hlc>,
    },
    /// Changed fields of an existing row.
    Upsert {
        entity: &'a Entity,
        fields: Map<String, Value>,
    },
    /// A hard delete (recorded before the row goes).
    Delete { entity: &'a Entity },
}

/// Appends a local change to the outbox and stamps its fields' clocks on the row. Runs in the
/// writer's transaction, so the change and its outbox entry commit (or vanish) together.
pub fn record_local(tx: &WriteTx<'_>, change: LocalChange<'_>) -> Result<()> {
    let Some(clock) = tx.clock() else {
        return Ok(());
    };
    let conn = tx.conn();
    let (hlc, op, entity, mut fields, creating) = match change {
        LocalChange::Create { entity, stamp } => {
            let hlc = stamp.unwrap_or_else(|| clock.tick());
            (hlc, OutboxOp::Upsert, entity, entity.data.clone(), true)
        }
        LocalChange::Upsert { entity, fields } => {
            (clock.tick(), OutboxOp::Upsert, entity, fields, false)
        }
        LocalChange::Delete { entity } => {
            (clock.tick(), OutboxOp::Delete, entity, Map::new(), false)
        }
    };
    let stamp = Value::String(hlc.to_string());
    // A new row has no clocks but the ones it was written with.
    let previous = if creating {
        Map::new()
    } else {
        clocks_of(conn, &entity.uuid)?
    };
    let mut recreated = false;
    let mut clocks = Map::new();
    let mut bases = Map::new();
    if op == OutboxOp::Delete {
        // What the deleter saw: every field of the row with the clock it held ("" for a value
        // never changed since it was seeded).
        for column in entity.data.keys().chain(previous.keys()) {
            bases.insert(column.clone(), seen_clock(&previous, column));
        }
        clocks.insert(DELETED_FIELD.into(), stamp.clone());
        tombstones::record(
            conn,
            entity.kind,
            &entity.uuid,
            entity.production_id.as_deref(),
            &hlc.to_string(),
            &bases,
        )?;
    } else {
        // A row created again under an id that was deleted: it saw the tombstone.
        if creating && let Some(tombstone) = tombstones::take(conn, &entity.uuid)? {
            recreated = true;
            fields.insert(DELETED_FIELD.into(), Value::Bool(false));
            bases.insert(DELETED_FIELD.into(), Value::String(tombstone));
        }
        // A field's base is left out when the row held no clock for it (a new row, a value
        // never changed since seeding): the hub reads a missing base as "" (venuebox_concurrent),
        // and a create's entry is then about a third smaller to store, send and parse.
        for column in fields.keys() {
            clocks.insert(column.clone(), stamp.clone());
            if !bases.contains_key(column)
                && let Some(seen) = previous.get(column).filter(|clock| *clock != "")
            {
                bases.insert(column.clone(), seen.clone());
            }
        }
    }
    let row = (op == OutboxOp::Upsert).then(|| row_with_deleted(entity));
    append(
        conn,
        NewEntry {
            op,
            kind: entity.kind,
            uuid: &entity.uuid,
            production_id: entity.production_id.as_deref(),
            fields: &fields,
            clocks: &clocks,
            bases: &bases,
            row: row.as_ref(),
            actor: entity.last_modified_by.as_deref(),
            replay: false,
        },
    )?;
    // A create wrote its clocks with the row; only a re-create adds the `_deleted` one.
    if op == OutboxOp::Upsert && (!creating || recreated) {
        conn.prepare_cached("UPDATE entities SET clocks = json_patch(clocks, ?2) WHERE uuid = ?1")?
            .execute(params![entity.uuid, codec::json_text(&clocks)])?;
    }
    if op == OutboxOp::Upsert && registry().get(entity.kind).is_some_and(|k| k.is_production) {
        holdings::hold(conn, &entity.uuid)?;
    }
    Ok(())
}

/// The clock a change saw on `column`: the one the row held, or "" for a value never changed
/// since it was seeded.
fn seen_clock(previous: &Map<String, Value>, column: &str) -> Value {
    previous
        .get(column)
        .cloned()
        .unwrap_or(Value::String(String::new()))
}

pub(crate) fn row_with_deleted(entity: &Entity) -> Map<String, Value> {
    let mut row = entity.data.clone();
    row.insert(DELETED_FIELD.into(), Value::Bool(entity.is_deleted));
    row.insert(
        CREATED_FIELD.into(),
        Value::String(entity.created_at.clone()),
    );
    row
}

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntryRow> {
    Ok(OutboxEntryRow {
        node_seq: row.get(0)?,
        op: row.get(1)?,
        kind: row.get(2)?,
        uuid: row.get(3)?,
        production_id: row.get(4)?,
        fields: row.get(5)?,
        clocks: row.get(6)?,
        bases: row.get(7)?,
        row: row.get(8)?,
        actor: row.get(9)?,
        created_at: row.get(10)?,
        replay: row.get(11)?,
    })
}

struct OutboxEntryRow {
    node_seq: i64,
    op: String,
    kind: String,
    uuid: String,
    production_id: Option<String>,
    fields: String,
    clocks: String,
    bases: String,
    row: Option<String>,
    actor: Option<String>,
    created_at: String,
    replay: bool,
}

impl OutboxEntryRow {
    fn into_entry(self) -> Result<OutboxEntry> {
        Ok(OutboxEntry {
            node_seq: self.node_seq,
            op: OutboxOp::parse(&self.op)?,
            kind: self.kind,
            uuid: self.uuid,
            production_id: self.production_id,
            fields: parse_object(&self.fields)?,
            clocks: parse_object(&self.clocks)?,
            bases: parse_object(&self.bases)?,
            row: self.row.as_deref().map(parse_object).transpose()?,
            actor: self.actor,
            created_at: self.created_at,
            replay: self.replay,
        })
    }
}

/// The oldest entries the hub has not acknowledged, in order.
pub fn unacked(conn: &Connection, after_seq: i64, limit: usize) -> Result<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT node_seq, op, kind, uuid, production_id, fields, clocks, bases, row_data, \
         actor, created_at, replay FROM sync_outbox WHERE node_seq > ?1 AND \
         node_seq > coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'acked_seq'), 0) \
         ORDER BY node_seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after_seq, limit as i64], entry_from_row)?;
    rows.map(|row| row.map_err(StoreError::from)?.into_entry())
        .collect()
}

/// A batch of the outbox as the hub's push reads it: a JSON array of entries (the shape of
/// [`OutboxEntry`], plus `newestMs`, the wall-clock part of the entry's newest clock), built
/// by SQLite from the stored JSON text, so a push never parses and re-serializes entries.
#[derive(Debug, Clone)]
pub struct OutboxBatch {
    pub json: String,
    pub count: usize,
    pub first_seq: i64,
    pub last_seq: i64,
}

/// The oldest entries the hub has not acknowledged (after `after_seq`), as a push batch.
pub fn unacked_batch(
    conn: &Connection,
    after_seq: i64,
    limit: usize,
) -> Result<Option<OutboxBatch>> {
    let (json, count, first_seq, last_seq): (Option<String>, i64, Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT json_group_array(json_object('nodeSeq', node_seq, 'op', op, 'kind', kind, \
             'uuid', uuid, 'productionId', production_id, 'fields', json(fields), \
             'clocks', json(clocks), 'bases', json(bases), 'row', json(row_data), \
             'actor', actor, 'createdAt', created_at, \
             'replay', json(CASE WHEN replay THEN 'true' ELSE 'false' END), \
             'newestMs', (SELECT max(CAST(substr(value, 1, 13) AS INTEGER)) \
                          FROM json_each(batch.clocks))) ORDER BY node_seq), \
             count(*), min(node_seq), max(node_seq) \
             FROM (SELECT * FROM sync_outbox WHERE node_seq > ?1 AND node_seq > \
                   coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'acked_seq'), 0) \
                   ORDER BY node_seq LIMIT ?2) AS batch",
        )?
        .query_row(params![after_seq, limit as i64], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?;
    Ok(match (json, first_seq, last_seq) {
        (Some(json), Some(first_seq), Some(last_seq)) if count > 0 => Some(OutboxBatch {
            json,
            count: count as usize,
            first_seq,
            last_seq,
        }),
        _ => None,
    })
}

/// Records the hub's acknowledgement: entry `node_seq` was logged at hub sequence `hub_seq`.
/// The highest acknowledged sequence is kept (everything up to it is acknowledged, since the
/// hub applies in order), so a hub that later forgets it is noticed.
pub fn ack(conn: &Connection, acks: &[(i64, i64)]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO sync_acks (node_seq, hub_seq) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    for (node_seq, hub_seq) in acks {
        stmt.execute(params![node_seq, hub_seq])?;
    }
    if let Some(highest) = acks.iter().map(|(node_seq, _)| *node_seq).max() {
        hub_state::raise_acked(conn, highest)?;
    }
    Ok(())
}

/// Queue figures for the status page and metrics.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub queue_length: i64,
    pub oldest_queued_at: Option<String>,
    pub conflicts_pending: i64,
    pub applied_seq: i64,
    pub last_node_seq: i64,
}

pub fn queue_stats(conn: &Connection) -> Result<QueueStats> {
    let (queue_length, oldest_queued_at) = conn
        .prepare_cached(
            "SELECT count(*), min(created_at) FROM sync_outbox WHERE node_seq > \
             coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'acked_seq'), 0)",
        )?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let conflicts_pending = conn
        .prepare_cached("SELECT count(*) FROM sync_conflicts WHERE resolved_at IS NULL")?
        .query_row([], |row| row.get(0))?;
    Ok(QueueStats {
        queue_length,
        oldest_queued_at,
        conflicts_pending,
        applied_seq: hub_state::cursor(conn)?,
        last_node_seq: last_node_seq(conn)?,
    })
}

/// The next batch to push, and the pull cursor the hub checks it against.
#[derive(Debug, Clone)]
pub struct PushBatch {
    pub batch: OutboxBatch,
    pub cursor: i64,
}

impl crate::Store {
    /// The oldest unacknowledged entries after `after` (at most `limit`), with the cursor.
    pub async fn next_push_batch(&self, after: i64, limit: usize) -> Result<Option<PushBatch>> {
        self.read(move |conn| {
            let cursor = hub_state::cursor(conn)?;
            Ok(unacked_batch(conn, after, limit)?.map(|batch| PushBatch { batch, cursor }))
        })
        .await
    }

    /// Records the hub's acknowledgements of a push, and the round in the sync log when it
    /// applied anything.
    pub async fn record_push(
        &self,
        acks: Vec<(i64, i64)>,
        started_at: String,
        applied: i64,
        conflicts: i64,
    ) -> Result<()> {
        self.write(move |tx| {
            ack(tx.conn(), &acks)?;
            if applied > 0 {
                super::log_round(tx.conn(), "push", &started_at, applied, conflicts, None)?;
            }
            Ok(())
        })
        .await
    }

    /// The queue's figures, the productions held, and their details, in one read.
    pub async fn replica_overview(&self) -> Result<(QueueStats, Vec<String>, Vec<super::Holding>)> {
        self.read(|conn| {
            Ok((
                queue_stats(conn)?,
                super::holdings(conn)?,
                super::holding_details(conn)?,
            ))
        })
        .await
    }

    /// The entries still waiting for the hub (for tests and diagnostics).
    /// The outbox's length and age ([`queue_stats`]).
    pub async fn queue_stats(&self) -> Result<QueueStats> {
        self.read(queue_stats).await
    }

    pub async fn unacked_entries(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        self.read(move |conn| unacked(conn, 0, limit)).await
    }
}
