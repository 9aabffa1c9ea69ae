//! Which hub this node syncs with, and how far: the hub's epoch, the pull cursor with its
//! anchor (the origin of the log entry at the cursor), and the highest outbox sequence the
//! hub acknowledged. With these the node notices a hub that was recreated (another epoch) or
//! restored from a dump (same epoch, but it forgot what it had acknowledged or its log was
//! rewritten), and stops instead of diverging. Adopting such a hub restates everything.
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::outbox::{self, NewEntry, OutboxOp};
use super::tombstones;
use super::{CREATED_FIELD, DELETED_FIELD, meta_delete, meta_get, meta_set, parse_object};
use crate::error::Result;
use crate::kinds::registry;
use crate::writer::WriteTx;

/// The hub this node synced with, identified by the epoch the hub made when it was created.
pub fn hub_epoch(conn: &Connection) -> Result<Option<String>> {
    meta_get(conn, "hub_epoch")
}

pub fn set_hub_epoch(conn: &Connection, epoch: &str) -> Result<()> {
    meta_set(conn, "hub_epoch", epoch)
}

/// The hub sequence this node has pulled up to.
pub fn cursor(conn: &Connection) -> Result<i64> {
    Ok(meta_get(conn, "sync_cursor")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Which change-log entry sits at the cursor: a hub whose entry there has another origin
/// rewrote its log (restored from a dump, then written again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Anchor {
    pub origin_node: Option<String>,
    pub origin_seq: Option<i64>,
}

pub fn anchor(conn: &Connection) -> Result<Option<Anchor>> {
    Ok(meta_get(conn, "sync_anchor")?.and_then(|text| serde_json::from_str(&text).ok()))
}

/// Moves the cursor from `from` to `to` (with the anchor there). Refused (false) when the
/// cursor is no longer at `from`: another pull (the engine's, or a download's) got there
/// first, and this page is stale. The cursor never moves backwards.
pub fn move_cursor(conn: &Connection, from: i64, to: i64, anchor: Option<&Anchor>) -> Result<bool> {
    let current = cursor(conn)?;
    if current != from || to < current {
        return Ok(false);
    }
    meta_set(conn, "sync_cursor", &to.to_string())?;
    match anchor {
        Some(anchor) => meta_set(
            conn,
            "sync_anchor",
            &serde_json::to_string(anchor).expect("serializes"),
        )?,
        None => meta_delete(conn, "sync_anchor")?,
    }
    Ok(true)
}

/// The highest outbox sequence the hub has acknowledged.
pub fn acked(conn: &Connection) -> Result<i64> {
    Ok(meta_get(conn, "acked_seq")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

pub(crate) fn raise_acked(conn: &Connection, seq: i64) -> Result<()> {
    if seq > acked(conn)? {
        meta_set(conn, "acked_seq", &seq.to_string())?;
    }
    Ok(())
}

/// Rows restated per statement while adopting a hub (bounded memory for any database size).
const ADOPT_CHUNK: i64 = 500;

/// Starts over with a hub that was recreated, or restored from a dump: forgets the old
/// epoch, cursor and acknowledgements, and queues every value this box holds (each field with
/// its clock, marked as a restatement) and every delete it remembers, so the hub learns
/// everything the box knew. The queue is renumbered at the next handshake, after what the hub
/// holds from this box. Returns the entries queued.
pub fn adopt_new_hub(tx: &mut WriteTx<'_>) -> Result<usize> {
    let conn = tx.conn();
    meta_delete(conn, "hub_epoch")?;
    meta_set(conn, "sync_cursor", "0")?;
    meta_delete(conn, "sync_anchor")?;
    meta_set(conn, "adopting_hub", "1")?;
    outbox::keep_seq_floor(conn)?;
    // What the old hub acknowledged is restated below, from the rows themselves.
    conn.execute_batch(
        "DELETE FROM sync_outbox WHERE node_seq IN (SELECT node_seq FROM sync_acks); \
         DELETE FROM sync_acks; \
         DELETE FROM sync_outbox WHERE node_seq <= coalesce((SELECT CAST(value AS INTEGER) \
         FROM meta WHERE key = 'acked_seq'), 0);",
    )?;
    meta_set(conn, "acked_seq", "0")?;
    let production_kind = registry()
        .all()
        .iter()
        .find(|k| k.is_production)
        .map(|k| k.name)
        .unwrap_or_default();
    let mut queued = 0;
    // Productions first, so the rows in them find their production on the hub.
    for productions in [true, false] {
        let mut after = 0i64;
        loop {
            let rows = restatable_rows(conn, production_kind, productions, after)?;
            let Some(last) = rows.last() else { break };
            after = last.rowid;
            for row in rows {
                queued += restate(conn, row)?;
            }
        }
    }
    let mut after = String::new();
    loop {
        let page = tombstones::page(conn, &after, ADOPT_CHUNK as usize)?;
        let Some(last) = page.last() else { break };
        after = last.uuid.clone();
        for tombstone in page {
            let mut clocks = Map::new();
            clocks.insert(DELETED_FIELD.into(), Value::String(tombstone.clock));
            outbox::append(
                conn,
                NewEntry {
                    op: OutboxOp::Delete,
                    kind: &tombstone.kind,
                    uuid: &tombstone.uuid,
                    production_id: tombstone.production_id.as_deref(),
                    fields: &Map::new(),
                    clocks: &clocks,
                    bases: &tombstone.seen,
                    row: None,
                    actor: None,
                    replay: true,
                },
            )?;
            queued += 1;
        }
    }
    Ok(queued)
}

struct Restatable {
    rowid: i64,
    uuid: String,
    kind: String,
    production_id: Option<String>,
    data: String,
    is_deleted: bool,
    clocks: String,
    actor: Option<String>,
    created_at: String,
}

fn restatable_rows(
    conn: &Connection,
    production_kind: &str,
    productions: bool,
    after: i64,
) -> Result<Vec<Restatable>> {
    let mut stmt = conn.prepare_cached(
        "SELECT rowid, uuid, kind, production_id, data, is_deleted, clocks, last_modified_by, \
         created_at FROM entities WHERE clocks <> '{}' AND (kind = ?1) = ?2 AND rowid > ?3 \
         ORDER BY rowid LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![production_kind, productions, after, ADOPT_CHUNK],
        |row| {
            Ok(Restatable {
                rowid: row.get(0)?,
                uuid: row.get(1)?,
                kind: row.get(2)?,
                production_id: row.get(3)?,
                data: row.get(4)?,
                is_deleted: row.get(5)?,
                clocks: row.get(6)?,
                actor: row.get(7)?,
                created_at: row.get(8)?,
            })
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Queues one row's changed fields, with their own clocks, as a restatement.
fn restate(conn: &Connection, row: Restatable) -> Result<usize> {
    let mut whole = parse_object(&row.data)?;
    whole.insert(DELETED_FIELD.into(), Value::Bool(row.is_deleted));
    whole.insert(CREATED_FIELD.into(), Value::String(row.created_at));
    let clocks = parse_object(&row.clocks)?;
    let fields: Map<String, Value> = clocks
        .keys()
        .map(|column| {
            (
                column.clone(),
                whole.get(column).cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    outbox::append(
        conn,
        NewEntry {
            op: OutboxOp::Upsert,
            kind: &row.kind,
            uuid: &row.uuid,
            production_id: row.production_id.as_deref(),
            fields: &fields,
            clocks: &clocks,
            bases: &clocks,
            row: Some(&whole),
            actor: row.actor.as_deref(),
            replay: true,
        },
    )?;
    Ok(1)
}

/// At the first handshake after [`adopt_new_hub`]: numbers the queue right after the last
/// sequence the new hub holds from this box.
pub fn renumber_for_new_hub(conn: &Connection, hub_last: i64) -> Result<bool> {
    if meta_get(conn, "adopting_hub")?.is_none() {
        return Ok(false);
    }
    // Everything in the outbox is unacknowledged now (adopting forgot the old hub's answers).
    conn.execute_batch("UPDATE sync_outbox SET node_seq = -node_seq;")?;
    conn.prepare(
        "WITH ordered AS (SELECT node_seq AS old, \
         ?1 + row_number() OVER (ORDER BY node_seq DESC) AS new FROM sync_outbox \
         WHERE node_seq < 0) \
         UPDATE sync_outbox SET node_seq = (SELECT new FROM ordered WHERE old = node_seq) \
         WHERE node_seq < 0",
    )?
    .execute([hub_last])?;
    meta_set(conn, "outbox_seq", &hub_last.to_string())?;
    meta_delete(conn, "adopting_hub")?;
    Ok(true)
}

/// After a download installed production `production` as of hub sequence `at_seq`: a box
/// that holds no other production (a fresh box, or one that was stale and downloads its one
/// show again) continues pulling from `at_seq`, since the snapshot holds everything in its
/// scope up to there. Returns whether the cursor moved.
pub fn start_from_download(
    conn: &Connection,
    production: &str,
    at_seq: i64,
    anchor: Option<&Anchor>,
) -> Result<bool> {
    let others: i64 = conn
        .prepare_cached("SELECT count(*) FROM sync_holdings WHERE production_id <> ?1")?
        .query_row([production], |row| row.get(0))?;
    let current = cursor(conn)?;
    if others > 0 || current >= at_seq {
        return Ok(false);
    }
    move_cursor(conn, current, at_seq, anchor)
}

/// How far this node got with its hub, for the hub to check at hello.
#[derive(Debug, Clone, Default)]
pub struct HubProgress {
    /// The hub's epoch this node synced with (none before the first contact).
    pub epoch: Option<String>,
    pub cursor: i64,
    pub anchor: Option<Anchor>,
    /// The highest outbox sequence the hub acknowledged.
    pub acked: i64,
}

/// What accepting a hub's hello changed here.
#[derive(Debug, Clone, Copy, Default)]
pub struct Accepted {
    /// The queue was numbered after the new hub's sequence (after adopting it).
    pub renumbered: bool,
    /// Numbering continues after sequences the hub holds but this database forgot.
    pub advanced: bool,
}

impl crate::Store {
    pub async fn hub_progress(&self) -> Result<HubProgress> {
        self.read(|conn| {
            Ok(HubProgress {
                epoch: hub_epoch(conn)?,
                cursor: cursor(conn)?,
                anchor: anchor(conn)?,
                acked: acked(conn)?,
            })
        })
        .await
    }

    /// After a hello: remembers the hub's epoch, forgets tombstones older than its window,
    /// and numbers the queue after the last sequence the hub holds from this node.
    pub async fn accept_hub(
        &self,
        epoch: String,
        hub_last: i64,
        tombstone_window_secs: i64,
    ) -> Result<Accepted> {
        self.write(move |tx| {
            set_hub_epoch(tx.conn(), &epoch)?;
            tombstones::prune(tx.conn(), tombstone_window_secs)?;
            if renumber_for_new_hub(tx.conn(), hub_last)? {
                return Ok(Accepted {
                    renumbered: true,
                    advanced: false,
                });
            }
            Ok(Accepted {
                renumbered: false,
                advanced: outbox::advance_node_seq(tx.conn(), hub_last)?,
            })
        })
        .await
    }

    /// Accepts a replaced hub ([`adopt_new_hub`]); returns the entries queued for it.
    pub async fn adopt_new_hub(&self) -> Result<usize> {
        self.write(adopt_new_hub).await
    }

    /// The hub sequence this node has pulled up to.
    pub async fn sync_cursor(&self) -> Result<i64> {
        self.read(cursor).await
    }
}
