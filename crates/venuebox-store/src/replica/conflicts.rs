//! The conflict log as the hub decided it (pulled with each verdict). Resolving one is an
//! edit of the row, so it lives above the write path, in `crate::resolution`.
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock;
use crate::error::Result;

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
    /// `production deleted`, `production missing`, `locked`, `invalid clock`, `renumbered`
    /// (a display id two boxes gave out apart).
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

/// Keeps a conflict the hub decided (once: pulls may bring it again). Returns 1 if new.
pub(crate) fn store(conn: &Connection, conflict: &ConflictRecord) -> Result<usize> {
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

pub(crate) fn mark_resolved(conn: &Connection, id: i64, resolution: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE sync_conflicts SET resolved_at = ?2, resolution = ?3 \
         WHERE id = ?1 AND resolved_at IS NULL",
    )?
    .execute(params![id, clock::now_iso(), resolution])?;
    Ok(())
}

pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConflictRecord> {
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

pub(crate) const COLUMNS: &str = "id, kind, uuid, production_id, column_name, reason, \
    winner_value, winner_hlc, winner_node, loser_value, loser_hlc, loser_node, created_at, \
    resolved_at, resolution";

/// Conflicts, newest first; open ones only unless `all`.
pub fn conflicts(conn: &Connection, all: bool, limit: usize) -> Result<Vec<ConflictRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sync_conflicts WHERE ?1 OR resolved_at IS NULL \
         ORDER BY id DESC LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![all, limit as i64], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl crate::Store {
    /// The conflict log, newest first; open conflicts only unless `all`.
    pub async fn conflicts(&self, all: bool, limit: usize) -> Result<Vec<ConflictRecord>> {
        self.read(move |conn| conflicts(conn, all, limit)).await
    }
}
