//! The node's half of sync, all inside SQLite: the outbox (written by the write path in the
//! same transaction as each change), per-field clocks, applying what the hub sends back, and
//! the pulled conflict log. The hub half (PostgreSQL, the merge) is `venuebox-sync`.
//!
//! The hub is where the per-field merge runs; a node *rebases* on it: for every field it takes
//! the hub's merged value, except a field this node changed and the hub has not yet answered
//! for (a pending outbox entry). Once the outbox is empty and the pull has caught up, every
//! node holds exactly the hub's state.
use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock;
use crate::codec::{self, Decoded};
use crate::entities::{self, Actor, Entity, Operation};
use crate::error::{Result, StoreError};
use crate::hlc::Hlc;
use crate::kinds::registry;
use crate::registry::{DeleteMode, KindDef, Scope};
use crate::writer::WriteTx;

/// The pseudo-column that carries the archive flag of soft-deleted kinds through sync.
pub const DELETED_FIELD: &str = "_deleted";
/// The row's creation time, carried in the whole-row copy so every node lists rows in the
/// order they were made (lists sort by it), not in the order they arrived.
pub const CREATED_FIELD: &str = "_created_at";

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
    /// Column -> the clock of the value this change replaced, as this node saw it.
    pub bases: Map<String, Value>,
    /// The whole row after the change, so the hub can create a row it has never seen (a
    /// seeded row edited for the first time).
    pub row: Option<Map<String, Value>>,
    pub actor: Option<String>,
    pub created_at: String,
}

/// A conflict as the hub recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictRecord {
    pub id: i64,
    pub kind: String,
    pub uuid: String,
    pub production_id: Option<String>,
    pub column: String,
    /// `concurrent` (same field changed in two places), `deleted` (the row was deleted),
    /// `production deleted`, `production missing`, `locked`.
    pub reason: String,
    pub winner_value: Value,
    pub winner_hlc: Option<String>,
    pub winner_node: Option<String>,
    pub loser_value: Value,
    pub loser_hlc: Option<String>,
    pub loser_node: Option<String>,
    pub created_at: String,
    pub resolved_at: Option<String>,
    pub resolution: Option<String>,
}

/// What the hub decided for one pushed entry (or any change in its log), as pulled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PulledChange {
    pub seq: i64,
    /// `upsert`, `delete`, `resolve` or `refused` (nothing changed; see `conflicts`).
    pub op: String,
    pub kind: String,
    pub uuid: String,
    pub production_id: Option<String>,
    /// The whole row after the hub's merge (with `_deleted`).
    pub data: Map<String, Value>,
    /// Column -> the hub's clock, for the columns this change touched.
    pub clocks: Map<String, Value>,
    pub origin_node: Option<String>,
    pub actor: Option<String>,
    pub conflicts: Vec<ConflictRecord>,
    /// For `resolve`: the conflict and how it was resolved.
    pub resolved: Option<(i64, String)>,
}

fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
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

/// After a restore from backup the hub may already hold sequences this database forgot:
/// continue numbering after them, so a new change is never mistaken for an old one.
pub fn advance_node_seq(conn: &Connection, hub_last: i64) -> Result<bool> {
    if hub_last > last_node_seq(conn)? {
        meta_set(conn, "outbox_seq", &hub_last.to_string())?;
        return Ok(true);
    }
    Ok(false)
}

fn clocks_of(conn: &Connection, uuid: &str) -> Result<Map<String, Value>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT clocks FROM entities WHERE uuid = ?1")?
        .query_row([uuid], |row| row.get(0))
        .optional()?;
    Ok(text
        .and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok())
        .unwrap_or_default())
}

/// How a local write changed a row, for the outbox.
pub enum LocalChange<'a> {
    Upsert {
        entity: &'a Entity,
        fields: Map<String, Value>,
    },
    Delete {
        entity: &'a Entity,
    },
}

/// Appends a local change to the outbox and stamps its fields' clocks on the row. Runs in the
/// writer's transaction, so the change and its outbox entry commit (or vanish) together.
pub fn record_local(tx: &WriteTx<'_>, change: LocalChange<'_>) -> Result<()> {
    let Some(clock) = tx.clock() else {
        return Ok(());
    };
    let conn = tx.conn();
    let hlc = clock.tick();
    let stamp = Value::String(hlc.to_string());
    let (op, entity, fields) = match change {
        LocalChange::Upsert { entity, fields } => (OutboxOp::Upsert, entity, fields),
        LocalChange::Delete { entity } => (OutboxOp::Delete, entity, Map::new()),
    };
    let previous = clocks_of(conn, &entity.uuid)?;
    let mut clocks = Map::new();
    let mut bases = Map::new();
    for column in fields.keys() {
        clocks.insert(column.clone(), stamp.clone());
        bases.insert(
            column.clone(),
            previous
                .get(column)
                .cloned()
                .unwrap_or(Value::String(String::new())),
        );
    }
    if op == OutboxOp::Delete {
        // A tombstone's base is the newest clock on the row.
        let newest = previous
            .values()
            .filter_map(Value::as_str)
            .max()
            .unwrap_or_default();
        bases.insert(DELETED_FIELD.into(), Value::String(newest.to_owned()));
        clocks.insert(DELETED_FIELD.into(), stamp.clone());
    }
    let row = (op == OutboxOp::Upsert).then(|| row_with_deleted(entity));
    let node_seq = next_node_seq(conn)?;
    conn.prepare_cached(
        "INSERT INTO sync_outbox (node_seq, op, kind, uuid, production_id, fields, clocks, \
         bases, row_data, actor, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        node_seq,
        op.as_str(),
        entity.kind,
        entity.uuid,
        entity.production_id,
        codec::json_text(&fields),
        codec::json_text(&clocks),
        codec::json_text(&bases),
        row.as_ref().map(codec::json_text),
        entity.last_modified_by,
        clock::now_iso(),
    ])?;
    if op == OutboxOp::Upsert {
        conn.prepare_cached("UPDATE entities SET clocks = json_patch(clocks, ?2) WHERE uuid = ?1")?
            .execute(params![entity.uuid, codec::json_text(&clocks)])?;
    }
    if entity.kind == "production" && op == OutboxOp::Upsert {
        hold(conn, &entity.uuid)?;
    }
    Ok(())
}

fn row_with_deleted(entity: &Entity) -> Map<String, Value> {
    let mut row = entity.data.clone();
    row.insert(DELETED_FIELD.into(), Value::Bool(entity.is_deleted));
    row.insert(
        CREATED_FIELD.into(),
        Value::String(entity.created_at.clone()),
    );
    row
}

/// Marks a production as held: its rows are pulled even when the node pulls held scopes only.
pub fn hold(conn: &Connection, production_id: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_holdings (production_id, held_since) VALUES (?1, ?2) \
         ON CONFLICT (production_id) DO NOTHING",
    )?
    .execute(params![production_id, clock::now_iso()])?;
    Ok(())
}

pub fn holdings(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT production_id FROM sync_holdings ORDER BY 1")?;
    let rows = stmt.query_map([], |row| row.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
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
}

fn parse_object(text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StoreError::Corrupt(
            "outbox entry is not a JSON object".into(),
        )),
    }
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
        })
    }
}

/// The oldest entries the hub has not acknowledged, in order.
pub fn unacked(conn: &Connection, after_seq: i64, limit: usize) -> Result<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT node_seq, op, kind, uuid, production_id, fields, clocks, bases, row_data, \
         actor, created_at FROM sync_outbox WHERE acked_seq IS NULL AND node_seq > ?1 \
         ORDER BY node_seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after_seq, limit as i64], entry_from_row)?;
    rows.map(|row| row.map_err(StoreError::from)?.into_entry())
        .collect()
}

/// Records the hub's acknowledgement: entry `node_seq` was logged at hub sequence `hub_seq`.
pub fn ack(conn: &Connection, acks: &[(i64, i64)]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE sync_outbox SET acked_seq = ?2 WHERE node_seq = ?1 AND acked_seq IS NULL",
    )?;
    for (node_seq, hub_seq) in acks {
        stmt.execute(params![node_seq, hub_seq])?;
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
            "SELECT count(*), min(created_at) FROM sync_outbox WHERE acked_seq IS NULL",
        )?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let conflicts_pending = conn
        .prepare_cached("SELECT count(*) FROM sync_conflicts WHERE resolved_at IS NULL")?
        .query_row([], |row| row.get(0))?;
    Ok(QueueStats {
        queue_length,
        oldest_queued_at,
        conflicts_pending,
        applied_seq: cursor(conn)?,
        last_node_seq: last_node_seq(conn)?,
    })
}

/// The hub sequence this node has pulled up to.
pub fn cursor(conn: &Connection) -> Result<i64> {
    Ok(meta_get(conn, "sync_cursor")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Starts over with a hub that was recreated or restored from an old dump (its epoch
/// changed): forgets the old epoch and the pull cursor and queues every value this box holds
/// (each field with its clock) so the new hub learns it. The queue is renumbered at the next
/// handshake, after what the new hub holds from this box. Returns the rows queued.
pub fn adopt_new_hub(tx: &mut WriteTx<'_>) -> Result<usize> {
    let conn = tx.conn();
    conn.prepare_cached("DELETE FROM meta WHERE key = 'hub_epoch'")?
        .execute([])?;
    meta_set(conn, "sync_cursor", "0")?;
    meta_set(conn, "adopting_hub", "1")?;
    // What was acknowledged by the old hub is requeued below, from the rows themselves.
    conn.prepare_cached("DELETE FROM sync_outbox WHERE acked_seq IS NOT NULL")?
        .execute([])?;
    let mut stmt = conn.prepare(
        "SELECT uuid, kind, production_id, data, is_deleted, clocks, last_modified_by, \
         created_at FROM entities WHERE clocks <> '{}' ORDER BY kind = 'production' DESC, rowid",
    )?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, bool>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, Option<String>>(6)?,
                row.get::<_, String>(7)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut queued = 0;
    for (uuid, kind, production_id, data, is_deleted, clocks, actor, created_at) in rows {
        let mut row = parse_object(&data)?;
        row.insert(DELETED_FIELD.into(), Value::Bool(is_deleted));
        row.insert(CREATED_FIELD.into(), Value::String(created_at));
        let clocks = parse_object(&clocks)?;
        let fields: Map<String, Value> = clocks
            .keys()
            .map(|column| {
                (
                    column.clone(),
                    row.get(column).cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        let node_seq = next_node_seq(conn)?;
        conn.prepare_cached(
            "INSERT INTO sync_outbox (node_seq, op, kind, uuid, production_id, fields, clocks, \
             bases, row_data, actor, created_at) \
             VALUES (?1, 'upsert', ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            node_seq,
            kind,
            uuid,
            production_id,
            codec::json_text(&fields),
            codec::json_text(&clocks),
            codec::json_text(&row),
            actor,
            clock::now_iso(),
        ])?;
        queued += 1;
    }
    Ok(queued)
}

/// At the first handshake after [`adopt_new_hub`]: numbers the queue right after the last
/// sequence the new hub holds from this box.
pub fn renumber_for_new_hub(conn: &Connection, hub_last: i64) -> Result<bool> {
    if meta_get(conn, "adopting_hub")?.is_none() {
        return Ok(false);
    }
    conn.execute_batch("UPDATE sync_outbox SET node_seq = -node_seq WHERE acked_seq IS NULL;")?;
    conn.prepare(
        "WITH ordered AS (SELECT node_seq AS old, \
         ?1 + row_number() OVER (ORDER BY node_seq DESC) AS new FROM sync_outbox \
         WHERE node_seq < 0) \
         UPDATE sync_outbox SET node_seq = (SELECT new FROM ordered WHERE old = node_seq) \
         WHERE node_seq < 0",
    )?
    .execute([hub_last])?;
    meta_set(conn, "outbox_seq", &hub_last.to_string())?;
    conn.prepare_cached("DELETE FROM meta WHERE key = 'adopting_hub'")?
        .execute([])?;
    Ok(true)
}

/// The hub this node synced with, identified by the epoch the hub made when it was created.
pub fn hub_epoch(conn: &Connection) -> Result<Option<String>> {
    meta_get(conn, "hub_epoch")
}

pub fn set_hub_epoch(conn: &Connection, epoch: &str) -> Result<()> {
    meta_set(conn, "hub_epoch", epoch)
}

/// Is a change of this node to `column` of `uuid` still waiting for the hub's verdict as of
/// hub sequence `seq`? Then the hub's older value must not replace it here.
struct Pending {
    columns: HashSet<String>,
    delete: bool,
}

fn pending(conn: &Connection, uuid: &str, seq: i64) -> Result<Pending> {
    let mut stmt = conn.prepare_cached(
        "SELECT op, fields FROM sync_outbox WHERE uuid = ?1 \
         AND (acked_seq IS NULL OR acked_seq > ?2)",
    )?;
    let mut rows = stmt.query(params![uuid, seq])?;
    let mut found = Pending {
        columns: HashSet::new(),
        delete: false,
    };
    while let Some(row) = rows.next()? {
        let op: String = row.get(0)?;
        if op == "delete" {
            found.delete = true;
        }
        let fields: String = row.get(1)?;
        found
            .columns
            .extend(parse_object(&fields)?.into_iter().map(|(k, _)| k));
    }
    Ok(found)
}

/// What one pull applied.
#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    pub changes: usize,
    pub conflicts: usize,
}

/// Applies a page of the hub's log and moves the cursor to `new_cursor`, in one transaction
/// (the caller's), then forgets acknowledged outbox entries the cursor has passed.
pub fn apply_pulled(
    tx: &mut WriteTx<'_>,
    changes: &[PulledChange],
    new_cursor: i64,
) -> Result<Applied> {
    let applied = apply_changes(tx, changes)?;
    let conn = tx.conn();
    meta_set(conn, "sync_cursor", &new_cursor.to_string())?;
    // Keep the sequence floor (and, below, the clock floor) above what is about to go.
    let last = last_node_seq(conn)?;
    meta_set(conn, "outbox_seq", &last.to_string())?;
    conn.prepare_cached("DELETE FROM sync_outbox WHERE acked_seq IS NOT NULL AND acked_seq <= ?1")?
        .execute([new_cursor])?;
    if let Some(clock) = tx.clock() {
        let hlc = clock.tick();
        meta_set(conn, "hlc_last", &hlc.to_string())?;
    }
    Ok(applied)
}

/// Applies hub changes without moving the cursor (a download catching one production up).
pub fn apply_changes(tx: &mut WriteTx<'_>, changes: &[PulledChange]) -> Result<Applied> {
    let mut applied = Applied::default();
    for change in changes {
        for conflict in &change.conflicts {
            applied.conflicts += store_conflict(tx.conn(), conflict)?;
        }
        if let Some(clock) = tx.clock() {
            for hlc in change.clocks.values().filter_map(Value::as_str) {
                if let Some(hlc) = Hlc::parse(hlc) {
                    clock.observe(&hlc);
                }
            }
        }
        let Some(kind) = registry().get(&change.kind) else {
            tracing::warn!(kind = %change.kind, seq = change.seq, "pulled a kind this version does not know; skipped");
            continue;
        };
        let changed = match change.op.as_str() {
            "upsert" => apply_upsert(tx, kind, change)?,
            "delete" => apply_delete(tx, kind, change)?,
            "resolve" => {
                if let Some((id, resolution)) = &change.resolved {
                    mark_resolved(tx.conn(), *id, resolution)?;
                }
                false
            }
            _ => false,
        };
        applied.changes += usize::from(changed);
    }
    Ok(applied)
}

fn pulled_actor(change: &PulledChange) -> Actor {
    Actor {
        id: change.actor.clone(),
        name: None,
    }
}

fn apply_upsert(
    tx: &mut WriteTx<'_>,
    kind: &'static KindDef,
    change: &PulledChange,
) -> Result<bool> {
    let conn = tx.conn();
    let pending = pending(conn, &change.uuid, change.seq)?;
    if pending.delete {
        return Ok(false);
    }
    let deleted_in = change.data.get(DELETED_FIELD).and_then(Value::as_bool);
    let existing = entities::load(conn, kind, &change.uuid)?;
    let now = clock::now_iso();
    let Some(existing) = existing else {
        if kind.scope == Scope::Production {
            let production = change.production_id.as_deref().unwrap_or_default();
            if entities::require_production(conn, production).is_err() {
                // Not held here (or deleted here and the tombstone is on its way).
                return Ok(false);
            }
        }
        let mut data = change.data.clone();
        data.remove(DELETED_FIELD);
        let created = data
            .remove(CREATED_FIELD)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| now.clone());
        conn.prepare_cached(
            "INSERT INTO entities (uuid, kind, production_id, data, version, is_deleted, \
             created_at, updated_at, last_modified_by, clocks) \
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?9, ?6, ?7, ?8)",
        )?
        .execute(params![
            change.uuid,
            kind.name,
            change.production_id,
            codec::json_text(&data),
            deleted_in.unwrap_or(false),
            now,
            change.actor,
            codec::json_text(&change.clocks),
            created,
        ])?;
        let entity = entities::load(conn, kind, &change.uuid)?
            .ok_or_else(|| StoreError::Internal("inserted row vanished".into()))?;
        let operation = if entity.is_deleted {
            Operation::Deleted
        } else {
            Operation::Created
        };
        entities::record(tx, kind, &entity, operation, data, pulled_actor(change))?;
        return Ok(true);
    };
    let mut data = existing.data.clone();
    let mut is_deleted = existing.is_deleted;
    let mut changed = Map::new();
    let mut clocks = Map::new();
    for (column, hlc) in &change.clocks {
        if pending.columns.contains(column) {
            continue;
        }
        clocks.insert(column.clone(), hlc.clone());
        let incoming = change.data.get(column).cloned().unwrap_or(Value::Null);
        if column == DELETED_FIELD {
            let flag = incoming.as_bool().unwrap_or(false);
            if flag != is_deleted {
                is_deleted = flag;
                changed.insert(column.clone(), Value::Bool(flag));
            }
        } else if data.get(column) != Some(&incoming) {
            data.insert(column.clone(), incoming.clone());
            changed.insert(column.clone(), incoming);
        }
    }
    if clocks.is_empty() {
        return Ok(false);
    }
    conn.prepare_cached("UPDATE entities SET clocks = json_patch(clocks, ?2) WHERE uuid = ?1")?
        .execute(params![existing.uuid, codec::json_text(&clocks)])?;
    if changed.is_empty() {
        return Ok(false);
    }
    conn.prepare_cached(
        "UPDATE entities SET data = ?2, is_deleted = ?3, version = version + 1, updated_at = ?4, \
         last_modified_by = coalesce(?5, last_modified_by) WHERE uuid = ?1",
    )?
    .execute(params![
        existing.uuid,
        codec::json_text(&data),
        is_deleted,
        now,
        change.actor,
    ])?;
    let was_deleted = existing.is_deleted;
    let entity = Entity {
        data,
        is_deleted,
        version: existing.version + 1,
        updated_at: now,
        last_modified_by: change.actor.clone().or(existing.last_modified_by.clone()),
        ..existing
    };
    let operation = match (was_deleted, is_deleted) {
        (false, true) => Operation::Deleted,
        (true, false) => Operation::Created,
        _ => Operation::Updated,
    };
    changed.remove(DELETED_FIELD);
    entities::record(tx, kind, &entity, operation, changed, pulled_actor(change))?;
    Ok(true)
}

fn apply_delete(
    tx: &mut WriteTx<'_>,
    kind: &'static KindDef,
    change: &PulledChange,
) -> Result<bool> {
    let Some(existing) = entities::load(tx.conn(), kind, &change.uuid)? else {
        return Ok(false);
    };
    entities::remove_row(tx.conn(), kind, &existing)?;
    entities::record(
        tx,
        kind,
        &existing,
        Operation::Deleted,
        Map::new(),
        pulled_actor(change),
    )?;
    Ok(true)
}

fn store_conflict(conn: &Connection, conflict: &ConflictRecord) -> Result<usize> {
    let text = |v: &Value| (!v.is_null()).then(|| v.to_string());
    Ok(conn
        .prepare_cached(
            "INSERT INTO sync_conflicts (id, kind, uuid, production_id, column_name, reason, \
             winner_value, winner_hlc, winner_node, loser_value, loser_hlc, loser_node, \
             created_at, resolved_at, resolution) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            conflict.id,
            conflict.kind,
            conflict.uuid,
            conflict.production_id,
            conflict.column,
            conflict.reason,
            text(&conflict.winner_value),
            conflict.winner_hlc,
            conflict.winner_node,
            text(&conflict.loser_value),
            conflict.loser_hlc,
            conflict.loser_node,
            conflict.created_at,
            conflict.resolved_at,
            conflict.resolution,
        ])?)
}

fn mark_resolved(conn: &Connection, id: i64, resolution: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE sync_conflicts SET resolved_at = ?2, resolution = ?3 \
         WHERE id = ?1 AND resolved_at IS NULL",
    )?
    .execute(params![id, clock::now_iso(), resolution])?;
    Ok(())
}

fn conflict_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConflictRecord> {
    let json = |text: Option<String>| {
        text.and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null)
    };
    Ok(ConflictRecord {
        id: row.get(0)?,
        kind: row.get(1)?,
        uuid: row.get(2)?,
        production_id: row.get(3)?,
        column: row.get(4)?,
        reason: row.get(5)?,
        winner_value: json(row.get(6)?),
        winner_hlc: row.get(7)?,
        winner_node: row.get(8)?,
        loser_value: json(row.get(9)?),
        loser_hlc: row.get(10)?,
        loser_node: row.get(11)?,
        created_at: row.get(12)?,
        resolved_at: row.get(13)?,
        resolution: row.get(14)?,
    })
}

const CONFLICT_COLUMNS: &str = "id, kind, uuid, production_id, column_name, reason, \
    winner_value, winner_hlc, winner_node, loser_value, loser_hlc, loser_node, created_at, \
    resolved_at, resolution";

/// Conflicts, newest first; open ones only unless `all`.
pub fn conflicts(conn: &Connection, all: bool, limit: usize) -> Result<Vec<ConflictRecord>> {
    let sql = format!(
        "SELECT {CONFLICT_COLUMNS} FROM sync_conflicts WHERE ?1 OR resolved_at IS NULL \
         ORDER BY id DESC LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![all, limit as i64], conflict_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How a person settles a conflict.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Keep the value this node holds now (the winner).
    Ours,
    /// Put the overwritten value back.
    Theirs,
    /// Write a new value.
    Value(Value),
}

impl Resolution {
    fn label(&self) -> &'static str {
        match self {
            Resolution::Ours => "ours",
            Resolution::Theirs => "theirs",
            Resolution::Value(_) => "value",
        }
    }
}

/// Resolves a conflict: writes the chosen value as a new local change (it syncs like any
/// other), marks the conflict resolved and queues the resolution for the hub, in one
/// transaction.
pub fn resolve(tx: &mut WriteTx<'_>, id: i64, resolution: Resolution) -> Result<ConflictRecord> {
    let conn = tx.conn();
    let sql = format!("SELECT {CONFLICT_COLUMNS} FROM sync_conflicts WHERE id = ?1");
    let conflict = conn
        .prepare_cached(&sql)?
        .query_row([id], conflict_from_row)
        .optional()?
        .ok_or(StoreError::NotFound { label: "Conflict" })?;
    if conflict.resolved_at.is_some() {
        return Err(StoreError::Conflict(format!(
            "conflict {id} was already resolved ({})",
            conflict.resolution.as_deref().unwrap_or("unknown")
        )));
    }
    let kind = registry().get(&conflict.kind).ok_or_else(|| {
        StoreError::Corrupt(format!("conflict of unknown kind {}", conflict.kind))
    })?;
    let value = match &resolution {
        Resolution::Ours => None,
        Resolution::Theirs => Some(conflict.loser_value.clone()),
        Resolution::Value(v) => Some(v.clone()),
    };
    if let Some(value) = value {
        let existing = entities::load(conn, kind, &conflict.uuid)?;
        let Some(existing) = existing else {
            return Err(StoreError::Conflict(format!(
                "the {} of conflict {id} was deleted; re-create it instead",
                kind.label.to_lowercase()
            )));
        };
        let mut decoded = Decoded {
            version: Some(existing.version),
            actor: Some("conflict-resolution".into()),
            ..Decoded::default()
        };
        if conflict.column == DELETED_FIELD {
            decoded.is_deleted = Some(value.as_bool().unwrap_or(false));
            if value.as_bool() == Some(true) && !existing.is_deleted {
                entities::delete(tx, kind, &conflict.uuid, Actor::default())?;
            } else if value.as_bool() != Some(true) && existing.is_deleted {
                entities::update(tx, kind, &conflict.uuid, decoded)?;
            }
        } else {
            if kind.field(&conflict.column).is_none() {
                return Err(StoreError::Corrupt(format!(
                    "conflict {id} names an unknown field {}",
                    conflict.column
                )));
            }
            decoded.fields.insert(conflict.column.clone(), value);
            if existing.is_deleted {
                decoded.is_deleted = Some(false);
            }
            entities::update(tx, kind, &conflict.uuid, decoded)?;
        }
    }
    let label = resolution.label();
    mark_resolved(tx.conn(), id, label)?;
    if let Some(clock) = tx.clock() {
        let hlc = clock.tick();
        let node_seq = next_node_seq(tx.conn())?;
        let mut fields = Map::new();
        fields.insert("conflictId".into(), Value::from(id));
        fields.insert("resolution".into(), Value::String(label.into()));
        tx.conn()
            .prepare_cached(
                "INSERT INTO sync_outbox (node_seq, op, kind, uuid, production_id, fields, \
                 clocks, bases, actor, created_at) \
                 VALUES (?1, 'resolve', ?2, ?3, ?4, ?5, ?6, '{}', NULL, ?7)",
            )?
            .execute(params![
                node_seq,
                conflict.kind,
                conflict.uuid,
                conflict.production_id,
                codec::json_text(&fields),
                serde_json::json!({ "resolution": hlc.to_string() }).to_string(),
                clock::now_iso(),
            ])?;
    }
    let sql = format!("SELECT {CONFLICT_COLUMNS} FROM sync_conflicts WHERE id = ?1");
    Ok(tx
        .conn()
        .prepare_cached(&sql)?
        .query_row([id], conflict_from_row)?)
}

/// One round of the seed app's `sync_log`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncLogEntry {
    pub id: i64,
    pub direction: String,
    pub started_at: String,
    pub completed_at: Option<String>,
    pub records: i64,
    pub conflicts: i64,
    pub error: Option<String>,
}

/// Rows kept in `sync_log`; older ones are dropped as new ones arrive.
const SYNC_LOG_KEEP: i64 = 1000;

pub fn log_round(
    conn: &Connection,
    direction: &str,
    started_at: &str,
    records: i64,
    conflicts: i64,
    error: Option<&str>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_log (direction, started_at, completed_at, records, conflicts, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        direction,
        started_at,
        error.is_none().then(clock::now_iso),
        records,
        conflicts,
        error
    ])?;
    conn.prepare_cached("DELETE FROM sync_log WHERE id <= (SELECT max(id) FROM sync_log) - ?1")?
        .execute([SYNC_LOG_KEEP])?;
    Ok(())
}

pub fn sync_log(conn: &Connection, limit: usize) -> Result<Vec<SyncLogEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, direction, started_at, completed_at, records, conflicts, error \
         FROM sync_log ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |row| {
        Ok(SyncLogEntry {
            id: row.get(0)?,
            direction: row.get(1)?,
            started_at: row.get(2)?,
            completed_at: row.get(3)?,
            records: row.get(4)?,
            conflicts: row.get(5)?,
            error: row.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Is this kind's delete a tombstone (hard) or an archive flag (soft)?
pub fn deletes_are_tombstones(kind: &KindDef) -> bool {
    kind.delete == DeleteMode::Hard
}

/// Where an interrupted download stands (kept in `meta`, so it survives a restart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadState {
    pub production_id: String,
    /// The hub sequence the snapshot started at: pulls continue from there.
    pub at_seq: i64,
    /// The last uuid staged; the next chunk starts after it.
    pub after: String,
    pub staged: i64,
}

pub fn download_state(conn: &Connection) -> Result<Option<DownloadState>> {
    Ok(meta_get(conn, "download")?.and_then(|text| serde_json::from_str(&text).ok()))
}

/// Starts staging a production (a different production's unfinished staging is dropped).
pub fn begin_download(
    conn: &Connection,
    production_id: &str,
    at_seq: i64,
) -> Result<DownloadState> {
    conn.execute("DELETE FROM download_staging", [])?;
    let state = DownloadState {
        production_id: production_id.to_owned(),
        at_seq,
        after: String::new(),
        staged: 0,
    };
    meta_set(
        conn,
        "download",
        &serde_json::to_string(&state).expect("serializes"),
    )?;
    Ok(state)
}

/// A downloaded row waiting in staging.
#[derive(Debug, Clone)]
pub struct StagedRow {
    pub uuid: String,
    pub kind: String,
    pub production_id: Option<String>,
    pub data: Map<String, Value>,
    pub clocks: Map<String, Value>,
}

/// Stages one chunk and records the progress, in one transaction.
pub fn stage_chunk(conn: &Connection, rows: &[StagedRow]) -> Result<DownloadState> {
    let mut state = download_state(conn)?
        .ok_or_else(|| StoreError::Conflict("no download in progress".into()))?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO download_staging (uuid, kind, production_id, data, clocks) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (uuid) DO UPDATE SET kind = excluded.kind, \
         production_id = excluded.production_id, data = excluded.data, clocks = excluded.clocks",
    )?;
    for row in rows {
        stmt.execute(params![
            row.uuid,
            row.kind,
            row.production_id,
            codec::json_text(&row.data),
            codec::json_text(&row.clocks),
        ])?;
    }
    if let Some(last) = rows.last() {
        state.after = last.uuid.clone();
        state.staged += rows.len() as i64;
    }
    meta_set(
        conn,
        "download",
        &serde_json::to_string(&state).expect("serializes"),
    )?;
    Ok(state)
}

/// What installing a download did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Installed {
    pub rows: i64,
    pub removed: i64,
    pub kept_local_fields: i64,
}

/// Moves the staged snapshot into the live tables in one transaction: the production appears
/// (or is refreshed) all at once. Fields with a change of this box still waiting for the hub
/// keep the local value; rows of the production the hub no longer has are removed unless they
/// are local changes not yet pushed.
pub fn install_download(tx: &mut WriteTx<'_>) -> Result<Installed> {
    let conn = tx.conn();
    let state = download_state(conn)?
        .ok_or_else(|| StoreError::Conflict("no download in progress".into()))?;
    let production = state.production_id.clone();
    let mut installed = Installed::default();
    let staged: Vec<StagedRow> = {
        let mut stmt = conn.prepare(
            "SELECT uuid, kind, production_id, data, clocks FROM download_staging \
             ORDER BY kind = 'production' DESC, uuid",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })?;
        let mut list = Vec::new();
        for row in rows {
            let (uuid, kind, production_id, data, clocks) = row?;
            list.push(StagedRow {
                uuid,
                kind,
                production_id,
                data: parse_object(&data)?,
                clocks: parse_object(&clocks)?,
            });
        }
        list
    };
    let now = clock::now_iso();
    let mut present = HashSet::new();
    for row in &staged {
        present.insert(row.uuid.clone());
        if registry().get(&row.kind).is_none() {
            continue;
        }
        let pending = pending(conn, &row.uuid, i64::MAX)?;
        if pending.delete {
            continue;
        }
        let mut data = row.data.clone();
        let is_deleted = data
            .remove(DELETED_FIELD)
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let created = data
            .remove(CREATED_FIELD)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| now.clone());
        let mut clocks = row.clocks.clone();
        let existing: Option<(String, String, bool)> = conn
            .prepare_cached("SELECT data, clocks, is_deleted FROM entities WHERE uuid = ?1")?
            .query_row([&row.uuid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let mut deleted_flag = is_deleted;
        if let Some((local_data, local_clocks, local_deleted)) = existing {
            let local_data = parse_object(&local_data)?;
            let local_clocks = parse_object(&local_clocks)?;
            for column in &pending.columns {
                installed.kept_local_fields += 1;
                if column == DELETED_FIELD {
                    deleted_flag = local_deleted;
                } else if let Some(value) = local_data.get(column) {
                    data.insert(column.clone(), value.clone());
                }
                if let Some(clock) = local_clocks.get(column) {
                    clocks.insert(column.clone(), clock.clone());
                }
            }
        }
        conn.prepare_cached(
            "INSERT INTO entities (uuid, kind, production_id, data, version, is_deleted, \
             created_at, updated_at, clocks) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?8, ?6, ?7) \
             ON CONFLICT (uuid) DO UPDATE SET data = excluded.data, \
             is_deleted = excluded.is_deleted, clocks = excluded.clocks, \
             version = CASE WHEN entities.data = excluded.data \
               AND entities.is_deleted = excluded.is_deleted THEN entities.version \
               ELSE entities.version + 1 END, \
             updated_at = CASE WHEN entities.data = excluded.data THEN entities.updated_at \
               ELSE excluded.updated_at END",
        )?
        .execute(params![
            row.uuid,
            row.kind,
            row.production_id,
            codec::json_text(&data),
            deleted_flag,
            now,
            codec::json_text(&clocks),
            created,
        ])?;
        installed.rows += 1;
    }
    // Rows of this production the hub no longer has (deleted there), unless still to push.
    let local: Vec<String> = {
        let mut stmt =
            conn.prepare("SELECT uuid FROM entities WHERE production_id = ?1 OR uuid = ?1")?;
        let rows = stmt.query_map([&production], |row| row.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for uuid in local {
        if present.contains(&uuid) {
            continue;
        }
        let waiting = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM sync_outbox WHERE uuid = ?1 AND acked_seq IS NULL)",
            )?
            .query_row([&uuid], |row| row.get::<_, bool>(0))?;
        if !waiting {
            conn.prepare_cached("DELETE FROM entities WHERE uuid = ?1")?
                .execute([&uuid])?;
            installed.removed += 1;
        }
    }
    hold(conn, &production)?;
    conn.prepare_cached("UPDATE sync_holdings SET downloaded_at = ?2 WHERE production_id = ?1")?
        .execute(params![production, now])?;
    conn.execute("DELETE FROM download_staging", [])?;
    conn.prepare_cached("DELETE FROM meta WHERE key = 'download'")?
        .execute([])?;
    // One event for the production itself: laptops see it appear (or refresh) once, rather
    // than thousands of row events.
    let kind = registry().kind("production");
    if let Some(entity) = entities::load(conn, kind, &production)? {
        entities::record(
            tx,
            kind,
            &entity,
            Operation::Updated,
            Map::new(),
            Actor::default(),
        )?;
    }
    Ok(installed)
}

/// The production's rows here, as the hub digests them: counts by kind and the SHA-256 of the
/// sorted `uuid:kind` lines (computed by the caller).
pub fn production_rows(conn: &Connection, production: &str) -> Result<Vec<(String, String)>> {
    let mut stmt =
        conn.prepare("SELECT uuid, kind FROM entities WHERE production_id = ?1 OR uuid = ?1")?;
    let rows = stmt.query_map([production], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Productions held here, with their last download and lock.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Holding {
    pub production_id: String,
    pub name: Option<String>,
    pub held_since: String,
    pub downloaded_at: Option<String>,
    pub locked_at: Option<String>,
}

pub fn holding_details(conn: &Connection) -> Result<Vec<Holding>> {
    let mut stmt = conn.prepare(
        "SELECT h.production_id, coalesce(json_extract(e.data, '$.show_name'), json_extract(e.data, '$.name')), h.held_since, h.downloaded_at, \
         h.locked_at FROM sync_holdings h LEFT JOIN entities e ON e.uuid = h.production_id \
         ORDER BY h.held_since",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(Holding {
            production_id: row.get(0)?,
            name: row.get(1)?,
            held_since: row.get(2)?,
            downloaded_at: row.get(3)?,
            locked_at: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Records this box's lock on a production (or its release) as the hub confirmed it.
pub fn set_locked(conn: &Connection, production: &str, locked: bool) -> Result<()> {
    hold(conn, production)?;
    conn.prepare_cached(
        "UPDATE sync_holdings SET locked_at = CASE WHEN ?2 THEN ?3 ELSE NULL END \
         WHERE production_id = ?1",
    )?
    .execute(params![production, locked, clock::now_iso()])?;
    Ok(())
}
