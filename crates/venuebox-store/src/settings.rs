//! The ordered settings lists (connector types, source types, frame rates, resolutions) and
//! their list-level operations: add, remove, reorder, restore defaults. Entries are ordinary
//! rows of their kind (so they sync and emit events like any other); a removed entry is
//! soft-deleted, i.e. inactive, and adding it again brings it back.
use serde_json::{Map, Value, json};

use crate::codec::{self, Decoded};
use crate::entities::{self, CreateOptions};
use crate::error::{Result, StoreError};
use crate::kinds::registry;
use crate::model::{Entity, derived_uuid};
use crate::registry::{KindDef, ListDef};
use crate::seed;
use crate::writer::WriteTx;
use crate::{read, rows};

/// One settings list as the routes see it: its kind and its definition, from the registry.
#[derive(Debug, Clone, Copy)]
pub struct SettingsList {
    pub kind: &'static KindDef,
    pub def: &'static ListDef,
}

/// The settings lists, in the registry's order.
pub fn lists() -> impl Iterator<Item = SettingsList> {
    registry()
        .settings_lists()
        .map(|(kind, def)| SettingsList { kind, def })
}

impl SettingsList {
    /// Path segment under `/settings` (`connector-types`).
    pub fn path(&self) -> &'static str {
        self.kind.family
    }

    pub fn kind_def(&self) -> &'static KindDef {
        self.kind
    }

    /// Body key of one entry (`name`, or `rate` for frame rates).
    pub fn value_key(&self) -> &'static str {
        self.def.value_key
    }

    /// Body key of the list in reorder requests (`types`, `rates`, `resolutions`).
    pub fn list_key(&self) -> &'static str {
        self.def.list_key
    }

    fn uuid(&self, value: &str) -> String {
        derived_uuid(&[self.kind.name, value])
    }

    pub fn defaults(&self) -> Vec<String> {
        seed::settings_defaults(self.def.defaults_key)
    }
}

fn entry_value(entity: &Entity, list: &SettingsList) -> String {
    entity
        .data
        .get(list.value_key())
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Active entries, in order.
pub fn active_values(conn: &rusqlite::Connection, list: &SettingsList) -> Result<Vec<String>> {
    let rows = read::list(conn, list.kind_def(), None, false)?;
    Ok(rows
        .iter()
        .filter_map(|row| row.get(list.value_key()).and_then(Value::as_str))
        .map(str::to_owned)
        .collect())
}

/// The raw row shape the old server answered with, plus `is_active`.
pub fn entry_row(
    conn: &rusqlite::Connection,
    list: &SettingsList,
    entity: &Entity,
) -> Result<Value> {
    let mut row = read::render(conn, list.kind_def(), entity)?;
    row["is_active"] = json!(!entity.is_deleted);
    Ok(row)
}

/// Makes an entry active at `order`; writes nothing when it already is.
fn activate_at(
    tx: &mut WriteTx<'_>,
    list: &SettingsList,
    entity: &Entity,
    order: i64,
) -> Result<Entity> {
    if !entity.is_deleted && entity.data.get("sort_order") == Some(&json!(order)) {
        return Ok(entity.clone());
    }
    let mut fields = Map::new();
    fields.insert("sort_order".into(), json!(order));
    let restore = Decoded {
        fields,
        is_deleted: Some(false),
        ..Default::default()
    };
    entities::update(tx, list.kind_def(), &entity.uuid, restore)
}

fn all_entries(conn: &rusqlite::Connection, list: &SettingsList) -> Result<Vec<Entity>> {
    let kind = list.kind_def();
    let mut rows = rows::list_entities(conn, kind, None, false)?;
    rows.extend(rows::list_entities(conn, kind, None, true)?);
    Ok(rows)
}

/// Adds an entry at the end (or brings a removed one back). A live duplicate is refused.
pub fn add(tx: &mut WriteTx<'_>, list: &SettingsList, body: Map<String, Value>) -> Result<Value> {
    let kind = list.kind_def();
    let decoded = codec::decode_body(kind, body)?;
    let value = decoded
        .fields
        .get(list.value_key())
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| StoreError::MissingField {
            field: list.value_key().into(),
        })?
        .to_owned();
    let entries = all_entries(tx.conn(), list)?;
    let next = entries
        .iter()
        .filter(|e| !e.is_deleted)
        .filter_map(|e| e.data.get("sort_order").and_then(Value::as_i64))
        .max()
        .map_or(0, |m| m + 1);
    let entity = match entries.iter().find(|e| entry_value(e, list) == value) {
        Some(existing) if !existing.is_deleted => {
            return Err(StoreError::Duplicate(format!(
                "{} \"{value}\" already exists",
                kind.label
            )));
        }
        Some(removed) => activate_at(tx, list, removed, next)?,
        None => {
            let mut fields = Map::new();
            fields.insert(list.value_key().into(), json!(value));
            fields.insert("sort_order".into(), json!(next));
            entities::create(
                tx,
                kind,
                Decoded {
                    fields,
                    actor: decoded.actor,
                    ..Default::default()
                },
                CreateOptions {
                    uuid: Some(list.uuid(&value)),
                    ..Default::default()
                },
            )?
        }
    };
    entry_row(tx.conn(), list, &entity)
}

pub fn remove(tx: &mut WriteTx<'_>, list: &SettingsList, value: &str) -> Result<()> {
    entities::delete(tx, list.kind_def(), &list.uuid(value), Default::default()).map(drop)
}

/// Puts the named entries first, in the given order; the others keep their relative order
/// after them. Every name must be an active entry.
pub fn reorder(tx: &mut WriteTx<'_>, list: &SettingsList, order: &[String]) -> Result<()> {
    let active: Vec<Entity> = rows::list_entities(tx.conn(), list.kind_def(), None, false)?;
    let mut active = active;
    active.sort_by_key(|e| {
        e.data
            .get("sort_order")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    });
    if let Some(unknown) = order
        .iter()
        .find(|name| !active.iter().any(|e| &entry_value(e, list) == *name))
    {
        return Err(StoreError::invalid(
            list.list_key(),
            format!("\"{unknown}\" is not in the {} list", list.path()),
        ));
    }
    let rest = active
        .iter()
        .filter(|e| !order.contains(&entry_value(e, list)));
    let sequence: Vec<&Entity> = order
        .iter()
        .filter_map(|name| active.iter().find(|e| &entry_value(e, list) == name))
        .chain(rest)
        .collect();
    for (position, entity) in sequence.into_iter().enumerate() {
        activate_at(tx, list, entity, position as i64)?;
    }
    Ok(())
}

/// Makes the list exactly the defaults, in their order; custom entries become inactive.
pub fn restore_defaults(tx: &mut WriteTx<'_>, list: &SettingsList) -> Result<Vec<String>> {
    let defaults = list.defaults();
    let entries = all_entries(tx.conn(), list)?;
    for (position, value) in defaults.iter().enumerate() {
        match entries.iter().find(|e| &entry_value(e, list) == value) {
            Some(entity) => {
                activate_at(tx, list, entity, position as i64)?;
            }
            None => {
                let mut fields = Map::new();
                fields.insert(list.value_key().into(), json!(value));
                fields.insert("sort_order".into(), json!(position));
                entities::create(
                    tx,
                    list.kind_def(),
                    Decoded {
                        fields,
                        ..Default::default()
                    },
                    CreateOptions {
                        uuid: Some(list.uuid(value)),
                        ..Default::default()
                    },
                )?;
            }
        }
    }
    for entity in entries
        .iter()
        .filter(|e| !e.is_deleted && !defaults.contains(&entry_value(e, list)))
    {
        entities::delete(tx, list.kind_def(), &entity.uuid, Default::default())?;
    }
    Ok(defaults)
}

/// The key/value settings store: one row per key, uuid derived from the key.
pub fn kv_all(conn: &rusqlite::Connection) -> Result<Map<String, Value>> {
    let kind = registry().kind("setting");
    let rows = rows::list_entities(conn, kind, None, false)?;
    Ok(rows
        .into_iter()
        .filter_map(|e| {
            let key = e.data.get("key")?.as_str()?.to_owned();
            Some((key, e.data.get("value").cloned().unwrap_or(Value::Null)))
        })
        .collect())
}

pub fn kv_uuid(key: &str) -> String {
    derived_uuid(&["setting", key])
}

/// Sets a key (creating it if needed); answers the stored row.
pub fn kv_put(tx: &mut WriteTx<'_>, key: &str, mut body: Map<String, Value>) -> Result<Value> {
    let kind = registry().kind("setting");
    if !body.contains_key("value") {
        return Err(StoreError::MissingField {
            field: "value".into(),
        });
    }
    body.insert("key".into(), json!(key));
    let decoded = codec::decode_body(kind, body)?;
    let uuid = kv_uuid(key);
    let entity = match rows::load(tx.conn(), kind, &uuid)? {
        Some(existing) => entities::update(
            tx,
            kind,
            &existing.uuid,
            Decoded {
                is_deleted: Some(false),
                ..decoded
            },
        )?,
        None => entities::create(
            tx,
            kind,
            decoded,
            CreateOptions {
                uuid: Some(uuid),
                ..Default::default()
            },
        )?,
    };
    read::render(tx.conn(), kind, &entity)
}

impl crate::Store {
    /// A settings list's active values, in order.
    pub async fn settings_values(&self, list: SettingsList) -> Result<Vec<String>> {
        self.read(move |conn| active_values(conn, &list)).await
    }

    /// Adds an entry to a settings list (or brings a removed one back).
    pub async fn add_setting(&self, list: SettingsList, body: Map<String, Value>) -> Result<Value> {
        self.write(move |tx| add(tx, &list, body)).await
    }

    /// Removes an entry from a settings list (it stays, inactive).
    pub async fn remove_setting(&self, list: SettingsList, value: String) -> Result<()> {
        self.write(move |tx| remove(tx, &list, &value)).await
    }

    /// Puts a settings list in the given order.
    pub async fn reorder_settings(&self, list: SettingsList, order: Vec<String>) -> Result<()> {
        self.write(move |tx| reorder(tx, &list, &order)).await
    }

    /// Puts a settings list back to its defaults; returns the values.
    pub async fn restore_setting_defaults(&self, list: SettingsList) -> Result<Vec<String>> {
        self.write(move |tx| restore_defaults(tx, &list)).await
    }

    /// The key/value settings as one object.
    pub async fn settings_map(&self) -> Result<Map<String, Value>> {
        self.read(kv_all).await
    }

    /// Sets one key of the key/value settings (created when absent).
    pub async fn put_setting(&self, key: String, body: Map<String, Value>) -> Result<Value> {
        self.write(move |tx| kv_put(tx, &key, body)).await
    }

    /// Deletes one key of the key/value settings.
    pub async fn delete_setting(&self, key: String) -> Result<()> {
        let kind = registry().kind("setting");
        self.delete(kind, kv_uuid(&key), Default::default())
            .await
            .map(drop)
    }
}
