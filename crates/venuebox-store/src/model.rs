//! The data model every part of the store shares: a stored row, the change event a committed
//! write publishes, who made a change, and the derived identities every node agrees on.
//! Depends on nothing else in the crate, so every other module can use it.
use serde_json::{Map, Value};

/// Namespace of the UUID v5 values the box derives (seeded rows, settings entries, child
/// records): every node derives the same uuid for the same thing.
pub const UUID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6f1d_2c1e_8a4b_4c9e_9f0e_3d5b_7a21_c0de);

pub fn derived_uuid(parts: &[&str]) -> String {
    uuid::Uuid::new_v5(&UUID_NAMESPACE, parts.join("\u{1f}").as_bytes()).to_string()
}

/// One stored row, its document parsed.
pub type Entity = Row<Map<String, Value>>;

/// One stored row with its document still the text SQLite holds: what REST reads render from,
/// copying field values straight from the text (see [`codec::StoredDoc`]).
pub type StoredRow = Row<String>;

/// The columns of a row of `entities`; `D` is its document (`data`).
#[derive(Debug, Clone)]
pub struct Row<D> {
    pub kind: &'static str,
    pub uuid: String,
    pub production_id: Option<String>,
    pub data: D,
    pub version: i64,
    pub is_deleted: bool,
    pub created_at: String,
    pub updated_at: String,
    pub last_modified_by: Option<String>,
    pub synced_at: Option<String>,
}

impl Entity {
    pub fn display_id(&self) -> Option<&str> {
        self.data.get("id").and_then(Value::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Created,
    Updated,
    Deleted,
}

/// Who made a change, as the client named them (`userId`, `userName`).
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A committed change, for the realtime layer (and sync).
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    pub kind: &'static str,
    pub operation: Operation,
    pub uuid: String,
    pub display_id: Option<String>,
    pub production_id: Option<String>,
    /// The row's wire form after the change (before it, for deletes).
    pub entity: Value,
    /// The fields this change wrote, by column (the whole row for a create, none for a delete).
    pub changed: Map<String, Value>,
    pub actor: Actor,
}
