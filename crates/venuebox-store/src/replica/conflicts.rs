//! The conflict log as the hub decided it (pulled with each verdict), and resolving one: the
//! chosen value is an ordinary local change, and the resolution itself syncs.
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::DELETED_FIELD;
use super::outbox::{self, NewEntry, OutboxOp};
use crate::clock;
use crate::codec::Decoded;
use crate::entities::{self, Actor};
use crate::error::{Result, StoreError};
use crate::kinds::registry;
use crate::writer::WriteTx;

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

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConflictRecord> {
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

const COLUMNS: &str = "id, kind, uuid, production_id, column_name, reason, \
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
    let sql = format!("SELECT {COLUMNS} FROM sync_conflicts WHERE id = ?1");
    let conflict = conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
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
        let mut fields = Map::new();
        fields.insert("conflictId".into(), Value::from(id));
        fields.insert("resolution".into(), Value::String(label.into()));
        let mut clocks = Map::new();
        clocks.insert("resolution".into(), Value::String(hlc.to_string()));
        outbox::append(
            tx.conn(),
            NewEntry {
                op: OutboxOp::Resolve,
                kind: &conflict.kind,
                uuid: &conflict.uuid,
                production_id: conflict.production_id.as_deref(),
                fields: &fields,
                clocks: &clocks,
                bases: &Map::new(),
                row: None,
                actor: None,
                replay: false,
            },
        )?;
    }
    let sql = format!("SELECT {COLUMNS} FROM sync_conflicts WHERE id = ?1");
    Ok(tx.conn().prepare_cached(&sql)?.query_row([id], from_row)?)
}
