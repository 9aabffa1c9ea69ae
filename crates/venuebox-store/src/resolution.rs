//! Settling a conflict from the log: the chosen value is written as an ordinary local change
//! (it syncs like any other, laptops see it), the conflict is marked resolved, and the
//! resolution itself is queued so every node marks it too. One transaction.
use rusqlite::OptionalExtension;
use serde_json::{Map, Value};

use crate::codec::Decoded;
use crate::entities;
use crate::error::{Result, StoreError};
use crate::kinds::registry;
use crate::model::Actor;
use crate::replica::DELETED_FIELD;
use crate::replica::conflicts::{COLUMNS, ConflictRecord, from_row, mark_resolved};
use crate::replica::outbox::{self, NewEntry, OutboxOp};
use crate::rows;
use crate::writer::WriteTx;

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
        let existing = rows::load(conn, kind, &conflict.uuid)?;
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

impl crate::Store {
    /// Settles a conflict of the log ([`resolve`]).
    pub async fn resolve_conflict(
        &self,
        id: i64,
        resolution: Resolution,
    ) -> Result<ConflictRecord> {
        self.write(move |tx| resolve(tx, id, resolution)).await
    }
}
