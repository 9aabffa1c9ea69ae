//! Applying what the hub decided. For every field a verdict touched the node takes the hub's
//! value and clock, unless it has a change of that field still waiting for the hub's answer
//! (then the hub's older value must not replace it here). Every applied change is published
//! through the same event path as a local write, so laptops see an office edit live.
use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::conflicts::{self, ConflictRecord};
use super::hub_state::{self, Anchor};
use super::outbox;
use super::{CREATED_FIELD, DELETED_FIELD, clocks_of, meta_set, tombstones};
use crate::clock;
use crate::codec;
use crate::error::Result;
use crate::hlc::{Hlc, HlcClock};
use crate::kinds::registry;
use crate::labels;
use crate::model::{Actor, Entity, Operation};
use crate::registry::{KindDef, Scope};
use crate::writer::WriteTx;
use crate::{read, rows};

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
    /// The outbox sequence of the entry this verdict answers, on its origin node.
    #[serde(default)]
    pub origin_seq: Option<i64>,
    pub actor: Option<String>,
    pub conflicts: Vec<ConflictRecord>,
    /// For `resolve`: the conflict and how it was resolved.
    pub resolved: Option<(i64, String)>,
}

/// Which of a row's columns have a change of this node still waiting for the hub's verdict
/// (the hub's older values of those must not replace it here), and whether a delete does.
#[derive(Default)]
pub(crate) struct Pending {
    pub columns: HashSet<String>,
    pub delete: bool,
}

/// The rows this node has entries for in its outbox, with the sequences of those entries, read
/// once per page of pulled changes (or per download) in one pass over the outbox: most
/// pulled rows have none, and for them [`Queued::pending`] costs no query; for the others it
/// reads their entries by sequence. (The outbox has no index by row: keeping one cost every
/// local write a WAL page, issue #17, for a lookup this one pass answers.) The outbox's rows
/// do not change while a page applies (it runs in one transaction that appends nothing to it).
pub(crate) struct Queued(HashMap<String, Vec<i64>>);

impl Queued {
    pub fn load(conn: &Connection) -> Result<Queued> {
        let mut by_row: HashMap<String, Vec<i64>> = HashMap::new();
        let mut stmt = conn.prepare_cached("SELECT uuid, node_seq FROM sync_outbox")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            by_row.entry(row.get(0)?).or_default().push(row.get(1)?);
        }
        Ok(Queued(by_row))
    }

    /// Has this node queued any change to `uuid` (acknowledged or not)?
    pub fn contains(&self, uuid: &str) -> bool {
        self.0.contains_key(uuid)
    }

    /// Is a change of this node to `uuid` still waiting for the hub's verdict as of hub
    /// sequence `seq`?
    pub fn pending(&self, conn: &Connection, uuid: &str, seq: i64) -> Result<Pending> {
        let mut found = Pending::default();
        let Some(entries) = self.0.get(uuid) else {
            return Ok(found);
        };
        let mut stmt = conn.prepare_cached(
            "SELECT o.op, o.fields FROM sync_outbox o LEFT JOIN sync_acks a \
             ON a.node_seq = o.node_seq WHERE o.node_seq = ?1 AND (a.hub_seq > ?2 OR \
             (a.hub_seq IS NULL AND o.node_seq > coalesce((SELECT CAST(value AS INTEGER) \
             FROM meta WHERE key = 'acked_seq'), 0)))",
        )?;
        for node_seq in entries {
            let mut rows = stmt.query(params![node_seq, seq])?;
            while let Some(row) = rows.next()? {
                let op: String = row.get(0)?;
                if op == "delete" {
                    found.delete = true;
                }
                let fields: String = row.get(1)?;
                found
                    .columns
                    .extend(super::parse_object(&fields)?.into_iter().map(|(k, _)| k));
            }
        }
        Ok(found)
    }

    /// Is any change of this node to `uuid` not yet acknowledged by the hub?
    pub fn unacknowledged(&self, conn: &Connection, uuid: &str) -> Result<bool> {
        let Some(entries) = self.0.get(uuid) else {
            return Ok(false);
        };
        let acked = hub_state::acked(conn)?;
        Ok(entries.iter().any(|&node_seq| node_seq > acked))
    }
}

/// What one pull applied.
#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    pub changes: usize,
    pub conflicts: usize,
}

/// Applies a page of the hub's log that was read from cursor `from`, and moves the cursor to
/// `to` (with the anchor there), in one transaction (the caller's); then forgets acknowledged
/// outbox entries the cursor has passed. `None` when the cursor is no longer at `from`
/// (another pull applied this stretch meanwhile): nothing is applied, and the caller pulls
/// again from where the cursor is.
pub fn apply_pulled(
    tx: &mut WriteTx<'_>,
    from: i64,
    changes: Vec<PulledChange>,
    to: i64,
    anchor: Option<&Anchor>,
) -> Result<Option<Applied>> {
    if !hub_state::move_cursor(tx.conn(), from, to, anchor)? {
        return Ok(None);
    }
    let applied = apply_changes(tx, changes)?;
    let conn = tx.conn();
    // Keep the sequence floor (and, below, the clock floor) above what is about to go.
    outbox::keep_seq_floor(conn)?;
    conn.prepare_cached(
        "DELETE FROM sync_outbox WHERE node_seq IN \
         (SELECT node_seq FROM sync_acks WHERE hub_seq <= ?1)",
    )?
    .execute([to])?;
    conn.prepare_cached("DELETE FROM sync_acks WHERE hub_seq <= ?1")?
        .execute([to])?;
    if let Some(clock) = tx.clock() {
        let hlc = clock.tick();
        meta_set(conn, "hlc_last", &hlc.to_string())?;
    }
    Ok(Some(applied))
}

/// Applies hub changes without moving the cursor (a download catching one production up).
pub fn apply_changes(tx: &mut WriteTx<'_>, changes: Vec<PulledChange>) -> Result<Applied> {
    let mut applied = Applied::default();
    let node_id = tx.clock().map(|clock| clock.node().to_owned());
    let queued = Queued::load(tx.conn())?;
    for mut change in changes {
        // The hub's verdict on one of this node's own entries is that entry's acknowledgement,
        // even when the push's answer was lost: the hub's values (a refusal's restatement, a
        // renumbered label, a restamped clock) must win over the entry from here on.
        if change.origin_node.is_some()
            && change.origin_node == node_id
            && let Some(origin_seq) = change.origin_seq
        {
            outbox::ack(tx.conn(), &[(origin_seq, change.seq)])?;
        }
        for conflict in &change.conflicts {
            applied.conflicts += conflicts::store(tx.conn(), conflict)?;
        }
        observe(tx, &change.clocks);
        let Some(kind) = registry().get(&change.kind) else {
            tracing::warn!(kind = %change.kind, seq = change.seq, "pulled a kind this version does not know; skipped");
            continue;
        };
        let changed = match change.op.as_str() {
            "upsert" => apply_upsert(tx, &queued, kind, &mut change)?,
            "delete" => apply_delete(tx, &queued, kind, &change)?,
            "resolve" => {
                if let Some((id, resolution)) = &change.resolved {
                    conflicts::mark_resolved(tx.conn(), *id, resolution)?;
                }
                false
            }
            _ => false,
        };
        applied.changes += usize::from(changed);
    }
    Ok(applied)
}

/// Moves this node's clock past every clock it has seen, so a change it makes afterwards is
/// stamped after them even when its own wall clock runs behind.
pub(crate) fn observe(tx: &WriteTx<'_>, clocks: &Map<String, Value>) {
    if let Some(clock) = tx.clock() {
        // The fields of one change mostly share one clock: each distinct one is parsed once.
        let mut last = None;
        for text in clocks.values().filter_map(Value::as_str) {
            if last == Some(text) {
                continue;
            }
            last = Some(text);
            if let Some(hlc) = Hlc::parse(text) {
                clock.observe(&hlc);
            }
        }
    }
}

/// [`observe`] for clocks still in JSON text (a staged download row), read without building
/// a map: every clock from the hub is a plain string. Anything else is read the long way.
pub(crate) fn observe_text(tx: &WriteTx<'_>, clocks: &str) -> Result<()> {
    let Some(clock) = tx.clock() else {
        return Ok(());
    };
    struct Observer<'a>(&'a HlcClock);
    impl<'de> serde::de::Visitor<'de> for Observer<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of clocks")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<(), A::Error> {
            let mut last: Option<&'de str> = None;
            while let Some((_, text)) = map.next_entry::<serde::de::IgnoredAny, &'de str>()? {
                if last != Some(text) {
                    last = Some(text);
                    if let Some(hlc) = Hlc::parse(text) {
                        self.0.observe(&hlc);
                    }
                }
            }
            Ok(())
        }
    }
    let mut reader = serde_json::Deserializer::from_str(clocks);
    if serde::Deserializer::deserialize_map(&mut reader, Observer(clock)).is_err() {
        observe(tx, &super::parse_object(clocks)?);
    }
    Ok(())
}

fn pulled_actor(change: &PulledChange) -> Actor {
    Actor {
        id: change.actor.clone(),
        name: None,
    }
}

fn apply_upsert(
    tx: &mut WriteTx<'_>,
    queued: &Queued,
    kind: &'static KindDef,
    change: &mut PulledChange,
) -> Result<bool> {
    let conn = tx.conn();
    let pending = queued.pending(conn, &change.uuid, change.seq)?;
    if pending.delete {
        return Ok(false);
    }
    let deleted_in = change.data.get(DELETED_FIELD).and_then(Value::as_bool);
    let existing = rows::load(conn, kind, &change.uuid)?;
    let now = clock::now_iso();
    let Some(mut existing) = existing else {
        if kind.scope == Scope::Production {
            let production = change.production_id.as_deref().unwrap_or_default();
            if rows::require_production(conn, production).is_err() {
                // Not held here (or deleted here and the tombstone is on its way).
                return Ok(false);
            }
        }
        let mut data = std::mem::take(&mut change.data);
        data.remove(DELETED_FIELD);
        let created = data
            .remove(CREATED_FIELD)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| now.clone());
        // A row the hub holds again (re-created after a delete) lives again here too.
        tombstones::forget(conn, &change.uuid)?;
        let row = rows::NewRow {
            kind,
            uuid: &change.uuid,
            production_id: change.production_id.as_deref(),
            data: &data,
            is_deleted: deleted_in.unwrap_or(false),
            clocks: &change.clocks,
            created_at: &created,
            updated_at: &now,
            actor: change.actor.as_deref(),
        };
        // The row was just found missing, inside this transaction.
        rows::insert_row(conn, &row, rows::IfTaken::Keep)?;
        labels::note(conn, tx.labels(), kind, row.production_id, row.data)?;
        let entity = row.to_entity();
        let operation = if entity.is_deleted {
            Operation::Deleted
        } else {
            Operation::Created
        };
        read::record(tx, kind, &entity, operation, data, pulled_actor(change))?;
        return Ok(true);
    };
    // The entity below is built with the merged data in place of this.
    let mut data = std::mem::take(&mut existing.data);
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
    if changed.is_empty() {
        // The hub's clocks, for values this node already holds.
        conn.prepare_cached("UPDATE entities SET clocks = json_patch(clocks, ?2) WHERE uuid = ?1")?
            .execute(params![existing.uuid, codec::json_text(&clocks)])?;
        return Ok(false);
    }
    conn.prepare_cached(
        "UPDATE entities SET data = ?2, is_deleted = ?3, version = version + 1, updated_at = ?4, \
         last_modified_by = coalesce(?5, last_modified_by), clocks = json_patch(clocks, ?6) \
         WHERE uuid = ?1",
    )?
    .execute(params![
        existing.uuid,
        codec::json_text(&data),
        is_deleted,
        now,
        change.actor,
        codec::json_text(&clocks),
    ])?;
    if let Some(labels) = tx.labels() {
        labels.saw(kind, existing.production_id.as_deref(), &changed);
    }
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
    read::record(tx, kind, &entity, operation, changed, pulled_actor(change))?;
    Ok(true)
}

fn apply_delete(
    tx: &mut WriteTx<'_>,
    queued: &Queued,
    kind: &'static KindDef,
    change: &PulledChange,
) -> Result<bool> {
    let conn = tx.conn();
    // A change of this node made after this point in the hub's log (a re-create, or an edit
    // the hub will refuse and answer with a delete of its own) settles the row when its
    // verdict arrives; until then the local row stays.
    let pending = queued.pending(conn, &change.uuid, change.seq)?;
    if !pending.columns.is_empty() {
        return Ok(false);
    }
    // Remembered whether or not the row is here: a later create under this id saw the delete.
    let stamp = change
        .clocks
        .get(DELETED_FIELD)
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !stamp.is_empty() {
        let seen = clocks_of(conn, &change.uuid)?;
        tombstones::record(
            conn,
            kind.name,
            &change.uuid,
            change.production_id.as_deref(),
            stamp,
            &seen,
        )?;
    }
    let Some(existing) = rows::load(conn, kind, &change.uuid)? else {
        return Ok(false);
    };
    rows::remove_row(conn, kind, &existing)?;
    read::record(
        tx,
        kind,
        &existing,
        Operation::Deleted,
        Map::new(),
        pulled_actor(change),
    )?;
    Ok(true)
}

impl crate::Store {
    /// Where a pull starts: the cursor, and the productions held.
    pub async fn pull_position(&self) -> Result<(i64, Vec<String>)> {
        self.read(|conn| Ok((hub_state::cursor(conn)?, super::holdings(conn)?)))
            .await
    }

    /// Applies a pulled page ([`apply_pulled`]) and logs the round; `None` when the cursor
    /// moved on meanwhile.
    pub async fn apply_pull(
        &self,
        from: i64,
        changes: Vec<PulledChange>,
        to: i64,
        anchor: Option<Anchor>,
        started_at: String,
    ) -> Result<Option<Applied>> {
        self.write(move |tx| {
            let count = changes.len() as i64;
            let Some(applied) = apply_pulled(tx, from, changes, to, anchor.as_ref())? else {
                return Ok(None);
            };
            if count > 0 {
                super::log_round(
                    tx.conn(),
                    "pull",
                    &started_at,
                    count,
                    applied.conflicts as i64,
                    None,
                )?;
            }
            Ok(Some(applied))
        })
        .await
    }

    /// Applies hub changes without moving the cursor ([`apply_changes`]).
    pub async fn apply_hub_changes(&self, changes: Vec<PulledChange>) -> Result<Applied> {
        self.write(move |tx| apply_changes(tx, changes)).await
    }
}
