//! First-start data: the equipment library (257 specs), the 37 system formats and the
//! settings lists, copied from the crew app's fixtures into `seed/`.
//!
//! Seeded rows get uuids derived from their natural keys (UUID v5), so every node seeds the
//! same rows under the same ids and sync never sees two copies of "Sony HDCU-5500".
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value, json};

use crate::codec;
use crate::entities::{self, CreateOptions};
use crate::error::{Result, StoreError};
use crate::kinds::registry;
use crate::model::derived_uuid;
use crate::rows;
use crate::writer::WriteTx;

pub const EQUIPMENT_JSON: &str = include_str!("../seed/equipment-data.json");
pub const FORMATS_JSON: &str = include_str!("../seed/formats.json");
pub const CHECKLIST_TEMPLATE_JSON: &str = include_str!("../seed/checklist-template.json");

/// Bump when the seed data changes; rows missing from an older seed are added.
const SEED_VERSION: &str = "1";

fn parse(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("seed {what}: {e}")))
}

/// The default values of one settings list, in order.
pub fn settings_defaults(defaults_key: &str) -> Vec<String> {
    parse(crate::kinds::SETTINGS_DEFAULTS_JSON, "settings")
        .ok()
        .and_then(|v| v.get(defaults_key).cloned())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
            row.get(0)
        })
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// This node's id, created once and kept for the life of the database.
pub fn ensure_node_id(conn: &Connection) -> Result<String> {
    if let Some(id) = meta(conn, "node_id")? {
        return Ok(id);
    }
    let id = uuid::Uuid::new_v4().to_string();
    set_meta(conn, "node_id", &id)?;
    Ok(id)
}

pub fn ensure_seeded(conn: &mut Connection) -> Result<()> {
    if meta(conn, "seed_version")?.as_deref() == Some(SEED_VERSION) {
        return Ok(());
    }
    let tx = conn.transaction()?;
    let counts = seed_all(&tx)?;
    set_meta(&tx, "seed_version", SEED_VERSION)?;
    tx.commit()?;
    tracing::info!(
        equipment = counts.0,
        formats = counts.1,
        settings = counts.2,
        "seeded the equipment library, formats and settings lists"
    );
    Ok(())
}

fn object(value: Value, what: &str) -> Result<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(StoreError::Corrupt(format!("seed {what}: not an object"))),
    }
}

/// Creates a seeded row unless a row with its uuid already exists.
fn seed_row(
    tx: &mut WriteTx<'_>,
    kind_name: &str,
    uuid: String,
    body: Map<String, Value>,
    computed: Map<String, Value>,
) -> Result<bool> {
    let kind = registry().kind(kind_name);
    if rows::load(tx.conn(), kind, &uuid)?.is_some() {
        return Ok(false);
    }
    let decoded = codec::decode_body(kind, body)?;
    entities::create(
        tx,
        kind,
        decoded,
        CreateOptions {
            uuid: Some(uuid),
            computed,
        },
    )?;
    Ok(true)
}

fn seed_all(conn: &Connection) -> Result<(usize, usize, usize)> {
    let mut tx = WriteTx::detached(conn);
    let mut equipment = 0;
    let Value::Array(specs) = parse(EQUIPMENT_JSON, "equipment")? else {
        return Err(StoreError::Corrupt("seed equipment: not an array".into()));
    };
    for spec in specs {
        let spec = object(spec, "equipment")?;
        let slug = spec.get("id").and_then(Value::as_str).unwrap_or_default();
        let uuid = derived_uuid(&["equipment", slug]);
        equipment += usize::from(seed_row(&mut tx, "equipment", uuid, spec, Map::new())?);
    }
    let mut formats = 0;
    let Value::Array(list) = parse(FORMATS_JSON, "formats")? else {
        return Err(StoreError::Corrupt("seed formats: not an array".into()));
    };
    for format in list {
        let format = object(format, "formats")?;
        let id = format.get("id").and_then(Value::as_str).unwrap_or_default();
        let uuid = derived_uuid(&["format", id]);
        let computed = object(json!({"is_system": true}), "formats")?;
        formats += usize::from(seed_row(&mut tx, "format", uuid, format, computed)?);
    }
    let mut settings = 0;
    for (kind, list) in registry().settings_lists() {
        let value_column = list.value_key;
        for (position, value) in settings_defaults(list.defaults_key).iter().enumerate() {
            let uuid = derived_uuid(&[kind.name, value]);
            let body = object(
                json!({ value_column: value, "sort_order": position }),
                "settings",
            )?;
            settings += usize::from(seed_row(&mut tx, kind.name, uuid, body, Map::new())?);
        }
    }
    Ok((equipment, formats, settings))
}
