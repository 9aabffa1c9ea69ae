//! The few behaviours that belong to one kind, referenced from its definition in
//! [`crate::kinds`]. Each is small and runs inside the write transaction.
use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value, json};

use crate::error::{Result, StoreError};
use crate::model::Entity;
use crate::registry::WriteCtx;

/// A production created without an `id` gets `prod_<ms>_<9 base36>` like the old server.
pub fn production_id(ctx: &mut WriteCtx<'_>) -> Result<()> {
    if ctx.existing.is_none() && ctx.fields.get("id").is_none_or(Value::is_null) {
        let random = uuid::Uuid::new_v4().as_u128();
        ctx.fields.insert(
            "id".into(),
            Value::String(format!("prod_{}_{}", ctx.now_ms, base36(random, 9))),
        );
    }
    Ok(())
}

fn base36(mut n: u128, digits: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..digits)
        .map(|_| {
            let d = (n % 36) as usize;
            n /= 36;
            ALPHABET[d] as char
        })
        .collect()
}

/// A camera's `ccuId` (display id) is resolved to the CCU's uuid — within the camera's own
/// production (the old server looked in every production).
pub fn camera_ccu_link(ctx: &mut WriteCtx<'_>) -> Result<()> {
    let Some(ccu_id) = ctx.fields.get("ccu_id").cloned() else {
        return Ok(());
    };
    let ccu_uuid = match ccu_id.as_str() {
        None => None,
        Some(display_id) => ctx
            .conn
            .prepare_cached(
                "SELECT uuid FROM entities WHERE kind = 'ccu' AND production_id = ?1 \
                 AND is_deleted = 0 AND json_extract(data, '$.id') = ?2 \
                 ORDER BY created_at, rowid LIMIT 1",
            )?
            .query_row(params![ctx.production_id, display_id], |row| {
                row.get::<_, String>(0)
            })
            .optional()?,
    };
    ctx.fields.insert("ccu_uuid".into(), ccu_uuid.into());
    Ok(())
}

/// Completing a checklist item stamps `completedAt` (epoch ms); un-completing clears it.
pub fn checklist_completion(ctx: &mut WriteCtx<'_>) -> Result<()> {
    let Some(completed) = ctx.fields.get("completed").and_then(Value::as_bool) else {
        return Ok(());
    };
    let was_completed = ctx
        .existing
        .and_then(|e| e.data.get("completed"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let sent_stamp = ctx.fields.get("completed_at").is_some_and(|v| !v.is_null());
    let stamp = match (completed, was_completed, sent_stamp) {
        (false, _, _) => Value::Null,
        (true, _, true) => return Ok(()),
        (true, true, false) => return Ok(()),
        (true, false, false) => Value::from(ctx.now_ms),
    };
    ctx.fields.insert("completed_at".into(), stamp);
    Ok(())
}

/// A cable created without a display id is named `<out8>_<type>_<in8>` (docs/contract.md §3.8).
pub fn cable_display_id(ctx: &mut WriteCtx<'_>) -> Result<()> {
    if ctx.existing.is_some() || !ctx.fields.get("id").is_none_or(Value::is_null) {
        return Ok(());
    }
    let short = |column: &str| -> String {
        ctx.fields
            .get(column)
            .and_then(Value::as_str)
            .map(|s| s.chars().take(8).collect())
            .unwrap_or_default()
    };
    let cable_type = ctx
        .fields
        .get("cable_type")
        .and_then(Value::as_str)
        .unwrap_or("cable")
        .to_owned();
    let id = format!(
        "{}_{}_{}",
        short("output_port_uuid"),
        cable_type,
        short("input_port_uuid")
    );
    ctx.fields.insert("id".into(), Value::String(id));
    Ok(())
}

/// Equipment created without a slug gets one from manufacturer and model (`sony-hdcu-5500`).
pub fn equipment_slug(ctx: &mut WriteCtx<'_>) -> Result<()> {
    if ctx.existing.is_some() || !ctx.fields.get("id").is_none_or(Value::is_null) {
        return Ok(());
    }
    let part = |column: &str| {
        ctx.fields
            .get(column)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let raw = format!("{} {}", part("manufacturer"), part("model"));
    let slug = raw
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if !slug.is_empty() {
        ctx.fields.insert("id".into(), Value::String(slug));
    }
    Ok(())
}

/// The crew app sends equipment in its own camelCase shape (`inputs`, `outputs`, `cards`
/// with `slotNumber`, `ioArchitecture: "card-based"`, `formatByIO`); a client may also echo
/// the snake_case shape of our responses. Both become the stored columns.
pub fn decode_equipment(body: Map<String, Value>) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let mut inputs = None;
    let mut outputs = None;
    for (key, value) in body {
        match key.as_str() {
            "category" => {
                let value = match value.as_str() {
                    Some(c) if c.eq_ignore_ascii_case("ptz") => json!("CAMERA"),
                    _ => value,
                };
                out.insert(key, value);
            }
            "ioArchitecture" => {
                out.insert("io_architecture".into(), value);
            }
            "cardSlots" => {
                out.insert("card_slots".into(), value);
            }
            "formatByIO" | "formatByIo" => {
                out.insert("format_by_io".into(), value);
            }
            "isSecondaryDevice" => {
                out.insert("is_secondary_device".into(), value);
            }
            "deviceFormats" => {
                out.insert("device_formats".into(), value);
            }
            "inputs" => inputs = Some(value),
            "outputs" => outputs = Some(value),
            "cards" => {
                out.insert("cards".into(), spa_cards(value)?);
            }
            "equipment_io_ports" => {
                out.insert(
                    "io_ports".into(),
                    echoed_ports(value, "equipment_io_ports")?,
                );
            }
            "equipment_cards" => {
                out.insert("cards".into(), echoed_cards(value)?);
            }
            _ => {
                out.insert(key, value);
            }
        }
    }
    if inputs.is_some() || outputs.is_some() {
        // Like the old server, a body with `inputs` or `outputs` replaces every direct port.
        let mut ports = spa_ports(inputs.unwrap_or(Value::Null), "INPUT", "inputs")?;
        ports.extend(spa_ports(
            outputs.unwrap_or(Value::Null),
            "OUTPUT",
            "outputs",
        )?);
        out.insert("io_ports".into(), Value::Array(ports));
    }
    Ok(out)
}

fn expect_array(value: Value, path: &str) -> Result<Vec<Value>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => Ok(items),
        _ => Err(StoreError::invalid(
            path,
            format!("Field \"{path}\" must be an array"),
        )),
    }
}

/// `{id, type, label, format}` in the app's shape → a stored port.
fn spa_ports(value: Value, direction: &str, path: &str) -> Result<Vec<Value>> {
    expect_array(value, path)?
        .into_iter()
        .enumerate()
        .map(|(index, port)| {
            let Value::Object(mut port) = port else {
                return Err(StoreError::invalid(
                    format!("{path}[{index}]"),
                    format!("Field \"{path}[{index}]\" must be an object"),
                ));
            };
            let mut stored = Map::new();
            if let Some(io_type) = port.remove("type") {
                stored.insert("io_type".into(), io_type);
            }
            stored.insert("port_type".into(), json!(direction));
            stored.insert("port_index".into(), json!(index));
            stored.extend(port);
            Ok(Value::Object(stored))
        })
        .collect()
}

fn spa_cards(value: Value) -> Result<Value> {
    let cards = expect_array(value, "cards")?
        .into_iter()
        .enumerate()
        .map(|(index, card)| {
            let Value::Object(mut card) = card else {
                return Err(StoreError::invalid(
                    format!("cards[{index}]"),
                    format!("Field \"cards[{index}]\" must be an object"),
                ));
            };
            let path = format!("cards[{index}]");
            let mut ports = spa_ports(
                card.remove("inputs").unwrap_or(Value::Null),
                "INPUT",
                &format!("{path}.inputs"),
            )?;
            ports.extend(spa_ports(
                card.remove("outputs").unwrap_or(Value::Null),
                "OUTPUT",
                &format!("{path}.outputs"),
            )?);
            let mut stored = Map::new();
            if let Some(slot) = card.remove("slotNumber") {
                stored.insert("slot_number".into(), slot);
            }
            stored.insert("io".into(), Value::Array(ports));
            stored.extend(card);
            Ok(Value::Object(stored))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Value::Array(cards))
}

/// Keys of our own port responses that are derived, not stored.
const ECHOED_PORT_KEYS: &[&str] = &[
    "equipment_id",
    "equipment_uuid",
    "card_id",
    "card_uuid",
    "updated_at",
];

fn echoed_ports(value: Value, path: &str) -> Result<Value> {
    let ports = expect_array(value, path)?
        .into_iter()
        .map(|port| match port {
            Value::Object(mut port) => {
                for key in ECHOED_PORT_KEYS {
                    port.remove(*key);
                }
                Value::Object(port)
            }
            other => other,
        })
        .collect();
    Ok(Value::Array(ports))
}

fn echoed_cards(value: Value) -> Result<Value> {
    let cards = expect_array(value, "equipment_cards")?
        .into_iter()
        .map(|card| match card {
            Value::Object(mut card) => {
                for key in ECHOED_PORT_KEYS {
                    card.remove(*key);
                }
                let io = card.remove("equipment_card_io").unwrap_or(Value::Null);
                card.insert("io".into(), echoed_ports(io, "equipment_card_io")?);
                Ok(Value::Object(card))
            }
            other => Ok(other),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Value::Array(cards))
}

/// The equipment library's wire shape is the database row the app was written against
/// (docs/contract.md §3.11): snake_case, `io_architecture` as `direct`/`card-based`, nested
/// `equipment_io_ports` and `equipment_cards[].equipment_card_io`.
pub fn encode_equipment(entity: &Entity) -> Value {
    let data = &entity.data;
    let get = |column: &str| data.get(column).cloned().unwrap_or(Value::Null);
    let slug = get("id");
    let architecture = match data.get("io_architecture").and_then(Value::as_str) {
        Some("CARD_BASED") => "card-based",
        _ => "direct",
    };
    // A port row names its owner (the spec, or a card) by display id and by uuid.
    let port = |port: &Value, owner_keys: (&str, &str), owner: (&Value, &Value)| -> Value {
        let field = |k: &str| port.get(k).cloned().unwrap_or(Value::Null);
        let mut row = json!({
            "uuid": field("uuid"),
            "id": field("id"),
            "port_type": field("port_type"),
            "io_type": field("io_type"),
            "label": field("label"),
            "format": field("format"),
            "port_index": field("port_index"),
            "created_at": field("created_at"),
            "updated_at": entity.updated_at,
            "version": 1,
        });
        row[owner_keys.0] = owner.0.clone();
        row[owner_keys.1] = owner.1.clone();
        row
    };
    let spec_uuid = json!(entity.uuid);
    let ports: Vec<Value> = data
        .get("io_ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .map(|p| port(p, ("equipment_id", "equipment_uuid"), (&slug, &spec_uuid)))
                .collect()
        })
        .unwrap_or_default();
    let cards: Vec<Value> = data
        .get("cards")
        .and_then(Value::as_array)
        .map(|cards| {
            cards
                .iter()
                .map(|card| {
                    let card_id = card.get("id").cloned().unwrap_or(Value::Null);
                    let card_uuid = card.get("uuid").cloned().unwrap_or(Value::Null);
                    let io: Vec<Value> = card
                        .get("io")
                        .and_then(Value::as_array)
                        .map(|ports| {
                            ports
                                .iter()
                                .map(|p| port(p, ("card_id", "card_uuid"), (&card_id, &card_uuid)))
                                .collect()
                        })
                        .unwrap_or_default();
                    json!({
                        "uuid": card_uuid,
                        "id": card_id,
                        "equipment_id": slug,
                        "equipment_uuid": entity.uuid,
                        "slot_number": card.get("slot_number").cloned().unwrap_or(Value::Null),
                        "created_at": card.get("created_at").cloned().unwrap_or(Value::Null),
                        "updated_at": entity.updated_at,
                        "version": 1,
                        "equipment_card_io": io,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "uuid": entity.uuid,
        "id": slug,
        "category": get("category"),
        "manufacturer": get("manufacturer"),
        "model": get("model"),
        "io_architecture": architecture,
        "card_slots": get("card_slots"),
        "format_by_io": get("format_by_io"),
        "is_secondary_device": get("is_secondary_device"),
        "device_formats": get("device_formats"),
        "specs": get("specs"),
        "created_at": entity.created_at,
        "updated_at": entity.updated_at,
        "synced_at": entity.synced_at,
        "last_modified_by": entity.last_modified_by,
        "version": entity.version,
        "is_deleted": entity.is_deleted,
        "equipment_io_ports": ports,
        "equipment_cards": cards,
    })
}
