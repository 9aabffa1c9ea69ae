//! Device ports: the physical connectors of any device row (a source, a CCU, a router…),
//! kept in step with the device by one "sync" call after every device save (docs/contract.md §3.9).
use rusqlite::OptionalExtension;
use serde_json::{Map, Value, json};

use crate::codec;
use crate::entities::{self, CreateOptions};
use crate::error::{Result, StoreError};
use crate::kinds::registry;
use crate::writer::WriteTx;
use crate::{read, rows};

/// Keys the app sends on a port that have no column (contract: `cardSlot` is ignored).
const IGNORED_PORT_KEYS: &[&str] = &["cardSlot", "card_slot"];

fn prefix_field(err: StoreError, index: usize) -> StoreError {
    let prefix = |field: String| format!("ports[{index}].{field}");
    match err {
        StoreError::InvalidField { field, message } => StoreError::InvalidField {
            field: prefix(field),
            message,
        },
        StoreError::UnknownField { kind, field } => StoreError::UnknownField {
            kind,
            field: prefix(field),
        },
        StoreError::MissingField { field } => StoreError::MissingField {
            field: prefix(field),
        },
        other => other,
    }
}

/// Makes the device's live ports exactly `ports`: a port whose `uuid` already belongs to this
/// device is updated, any other is created (display id `<device>_<in|out>_<n>`, counted per
/// direction), and live ports missing from the list are soft-deleted. Returns the new list.
pub fn sync_device_ports(
    tx: &mut WriteTx<'_>,
    device_uuid: &str,
    production_id: &str,
    device_display_id: Option<&str>,
    ports: Vec<Value>,
) -> Result<Vec<Value>> {
    let kind = registry().kind("devicePort");
    let conn = tx.conn();
    rows::require_production(conn, production_id)?;
    let existing = read::list_by_field(conn, kind, &["device_uuid"], device_uuid)?;
    let existing_uuids: Vec<String> = existing
        .iter()
        .filter_map(|p| p.get("uuid").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let mut kept = Vec::new();
    let mut per_direction = [0usize; 2];
    // Ports are named after the device: the display id the app sent, else the device row's
    // own (devices of any kind share the entities table), else its uuid.
    let stored_display: Option<String> = conn
        .prepare_cached("SELECT json_extract(data, '$.id') FROM entities WHERE uuid = ?1")?
        .query_row([device_uuid], |row| row.get(0))
        .optional()?
        .flatten();
    let label = device_display_id
        .or(stored_display.as_deref())
        .unwrap_or(device_uuid)
        .to_owned();
    for (index, port) in ports.into_iter().enumerate() {
        let Value::Object(mut port) = port else {
            return Err(StoreError::invalid(
                format!("ports[{index}]"),
                format!("Field \"ports[{index}]\" must be an object"),
            ));
        };
        for key in IGNORED_PORT_KEYS {
            port.remove(*key);
        }
        let sent_uuid = port.get("uuid").and_then(Value::as_str).map(str::to_owned);
        port.insert("deviceUuid".into(), json!(device_uuid));
        port.insert("productionId".into(), json!(production_id));
        let mut decoded = codec::decode_body(kind, port).map_err(|e| prefix_field(e, index))?;
        let slot = match decoded.fields.get("direction").and_then(Value::as_str) {
            Some("OUTPUT") => 1,
            _ => 0,
        };
        per_direction[slot] += 1;
        match sent_uuid.filter(|u| existing_uuids.contains(u)) {
            Some(uuid) => {
                entities::update(tx, kind, &uuid, decoded).map_err(|e| prefix_field(e, index))?;
                kept.push(uuid);
            }
            None => {
                if decoded.fields.get("id").is_none_or(Value::is_null) {
                    let direction = if slot == 1 { "out" } else { "in" };
                    let id = format!("{label}_{direction}_{}", per_direction[slot]);
                    decoded.fields.insert("id".into(), json!(id));
                }
                let created = entities::create(tx, kind, decoded, CreateOptions::default())
                    .map_err(|e| prefix_field(e, index))?;
                kept.push(created.uuid);
            }
        }
    }
    for uuid in existing_uuids.iter().filter(|u| !kept.contains(u)) {
        entities::delete(tx, kind, uuid, Default::default())?;
    }
    read::list_by_field(tx.conn(), kind, &["device_uuid"], device_uuid)
}

/// Soft-deletes every live port of a device; returns how many.
pub fn delete_device_ports(tx: &mut WriteTx<'_>, device_uuid: &str) -> Result<usize> {
    let kind = registry().kind("devicePort");
    let existing = read::list_by_field(tx.conn(), kind, &["device_uuid"], device_uuid)?;
    for port in &existing {
        if let Some(uuid) = port.get("uuid").and_then(Value::as_str) {
            entities::delete(tx, kind, uuid, Default::default())?;
        }
    }
    Ok(existing.len())
}

/// Reads `{productionId, deviceDisplayId?, ports: [...]}`.
pub fn parse_sync_body(
    mut body: Map<String, Value>,
) -> Result<(String, Option<String>, Vec<Value>)> {
    let production_id = body
        .remove("productionId")
        .and_then(|v| v.as_str().map(str::to_owned));
    let ports = body.remove("ports");
    let display = body
        .remove("deviceDisplayId")
        .and_then(|v| v.as_str().map(str::to_owned));
    match (production_id, ports) {
        (Some(production_id), Some(Value::Array(ports))) => Ok((production_id, display, ports)),
        _ => Err(StoreError::BadRequest(
            "productionId and ports[] are required".into(),
        )),
    }
}

impl crate::Store {
    /// The live ports of a device, in order (`GET /device-ports/device/:uuid`).
    pub async fn ports_of_device(&self, device_uuid: String) -> Result<Vec<Value>> {
        self.read(move |conn| {
            read::list_by_field(
                conn,
                registry().kind("devicePort"),
                &["device_uuid"],
                &device_uuid,
            )
        })
        .await
    }

    /// The live cables plugged into a port, either end (`GET /cables/port/:uuid`).
    pub async fn cables_of_port(&self, port_uuid: String) -> Result<Vec<Value>> {
        self.read(move |conn| {
            read::list_by_field(
                conn,
                registry().kind("cable"),
                &["output_port_uuid", "input_port_uuid"],
                &port_uuid,
            )
        })
        .await
    }

    /// Makes a device's ports exactly those of a sync body (see [`sync_device_ports`]).
    pub async fn sync_device_ports(
        &self,
        device_uuid: String,
        body: Map<String, Value>,
    ) -> Result<Vec<Value>> {
        let (production_id, display_id, ports) = parse_sync_body(body)?;
        self.write(move |tx| {
            sync_device_ports(
                tx,
                &device_uuid,
                &production_id,
                display_id.as_deref(),
                ports,
            )
        })
        .await
    }

    /// Soft-deletes every live port of a device; returns how many.
    pub async fn delete_device_ports(&self, device_uuid: String) -> Result<usize> {
        self.write(move |tx| delete_device_ports(tx, &device_uuid))
            .await
    }
}
