//! Request bodies in, wire JSON out, both driven by the registry.
//!
//! Decoding checks every key of a body against the kind's fields: a known field is converted
//! to its type (or refused naming the field), request metadata the crew app always sends
//! (`userId`, `userName`, `fieldVersions`, server-owned keys echoed back from a GET) is taken
//! or ignored, and anything else is refused as an unknown field so a typo never silently
//! drops data.
use serde_json::{Map, Number, Value};

use crate::clock;
use crate::entities::Entity;
use crate::error::{Result, StoreError};
use crate::registry::{ChildList, FieldDef, FieldType, KeyStyle, KindDef, Scope, WireCase};

/// Keys the crew app sends with writes that are not row data (contract §1.2), and keys the
/// server owns that a client may echo back from a response.
const IGNORED_KEYS: &[&str] = &[
    "metadata",
    "fieldVersions",
    "field_versions",
    "uuid",
    "createdAt",
    "created_at",
    "updatedAt",
    "updated_at",
    "syncedAt",
    "synced_at",
];

/// A validated request body.
#[derive(Debug, Default, Clone)]
pub struct Decoded {
    /// Field values keyed by column, already converted to their stored form.
    pub fields: Map<String, Value>,
    pub version: Option<i64>,
    pub production_id: Option<String>,
    /// `lastModifiedBy`, else `userId`.
    pub actor: Option<String>,
    /// `userName`, for realtime payloads.
    pub actor_name: Option<String>,
    /// `isDeleted` as sent (`false` restores a soft-deleted row).
    pub is_deleted: Option<bool>,
}

pub fn decode_body(kind: &KindDef, body: Map<String, Value>) -> Result<Decoded> {
    let body = match kind.decode {
        Some(translate) => translate(body)?,
        None => body,
    };
    let mut decoded = Decoded::default();
    let mut user_id = None;
    for (key, value) in body {
        match key.as_str() {
            k if IGNORED_KEYS.contains(&k) => {}
            "userId" | "user_id" => user_id = value.as_str().map(str::to_owned),
            "userName" | "user_name" => decoded.actor_name = value.as_str().map(str::to_owned),
            "lastModifiedBy" | "last_modified_by" => {
                decoded.actor = value.as_str().map(str::to_owned)
            }
            "version" => decoded.version = decode_version(&value)?,
            "productionId" | "production_id" if kind.scope == Scope::Production => {
                decoded.production_id = match value {
                    Value::String(s) if !s.trim().is_empty() => Some(s),
                    Value::Null => None,
                    _ => {
                        return Err(StoreError::invalid(
                            "productionId",
                            "Field \"productionId\" must be a non-empty string",
                        ));
                    }
                }
            }
            "isDeleted" | "is_deleted" => {
                decoded.is_deleted = match convert(&FieldType::Bool, value, "isDeleted")? {
                    Value::Bool(b) => Some(b),
                    _ => None,
                }
            }
            _ => {
                if let Some(field) = kind.field_for_key(&key) {
                    if field.writable {
                        let wire = wire_name(kind, field).to_owned();
                        let converted = convert(&field.ty, value, &wire)?;
                        decoded.fields.insert(field.column.to_owned(), converted);
                    }
                } else if kind.embeds.iter().any(|e| e.wire == key)
                    || kind
                        .fields
                        .iter()
                        .any(|f| f.output_aliases.contains(&key.as_str()))
                {
                    // Echo of a server-rendered key: nothing to store.
                } else {
                    return Err(StoreError::UnknownField {
                        kind: kind.label,
                        field: key,
                    });
                }
            }
        }
    }
    if decoded.actor.is_none() {
        decoded.actor = user_id;
    }
    Ok(decoded)
}

fn decode_version(value: &Value) -> Result<Option<i64>> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) if n.as_i64().is_some() => Ok(n.as_i64()),
        _ => Err(StoreError::invalid(
            "version",
            "Field \"version\" must be an integer",
        )),
    }
}

pub fn wire_name<'a>(kind: &KindDef, field: &'a FieldDef) -> &'a str {
    match kind.wire_case {
        WireCase::Camel => &field.wire,
        WireCase::Snake => field.column,
    }
}

fn type_error(path: &str, expected: &str) -> StoreError {
    StoreError::invalid(path, format!("Field \"{path}\" must be {expected}"))
}

/// Converts one JSON value to a field's stored form. Empty strings in non-text fields mean
/// "no value" (HTML forms send them); numeric strings are accepted for numbers.
pub fn convert(ty: &FieldType, value: Value, path: &str) -> Result<Value> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let blank = matches!(&value, Value::String(s) if s.trim().is_empty());
    match ty {
        FieldType::Text => match value {
            Value::String(_) => Ok(value),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            _ => Err(type_error(path, "a string")),
        },
        FieldType::Json => Ok(value),
        _ if blank => Ok(Value::Null),
        FieldType::Int => match &value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .map(Value::from)
                .ok_or_else(|| type_error(path, "an integer")),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| type_error(path, "an integer")),
            _ => Err(type_error(path, "an integer")),
        },
        FieldType::Real => match &value {
            Value::Number(_) => Ok(value),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| type_error(path, "a number")),
            _ => Err(type_error(path, "a number")),
        },
        FieldType::Bool => match &value {
            Value::Bool(_) => Ok(value),
            Value::String(s) if s == "true" => Ok(Value::Bool(true)),
            Value::String(s) if s == "false" => Ok(Value::Bool(false)),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(Value::Bool(true)),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(Value::Bool(false)),
            _ => Err(type_error(path, "true or false")),
        },
        FieldType::Timestamp => match &value {
            Value::String(s) => clock::parse_timestamp(s)
                .map(|at| Value::String(clock::format_iso(at)))
                .ok_or_else(|| type_error(path, "a date or ISO 8601 timestamp")),
            Value::Number(n) => n
                .as_i64()
                .and_then(clock::from_epoch_ms)
                .map(|at| Value::String(clock::format_iso(at)))
                .ok_or_else(|| type_error(path, "a date or ISO 8601 timestamp")),
            _ => Err(type_error(path, "a date or ISO 8601 timestamp")),
        },
        FieldType::EpochMs => match &value {
            Value::Number(n) if n.as_i64().is_some() => Ok(value),
            Value::String(s) => clock::parse_timestamp(s)
                .map(|at| Value::from(clock::to_epoch_ms(at)))
                .ok_or_else(|| type_error(path, "epoch milliseconds or an ISO 8601 timestamp")),
            _ => Err(type_error(
                path,
                "epoch milliseconds or an ISO 8601 timestamp",
            )),
        },
        FieldType::Enum(allowed) => {
            let text = value
                .as_str()
                .ok_or_else(|| type_error(path, &format!("one of {}", allowed.join(", "))))?;
            let wanted = normalize_enum(text);
            allowed
                .iter()
                .find(|candidate| normalize_enum(candidate) == wanted)
                .map(|canonical| Value::String((*canonical).to_owned()))
                .ok_or_else(|| type_error(path, &format!("one of {}", allowed.join(", "))))
        }
        FieldType::Children(list) => {
            let Value::Array(items) = value else {
                return Err(type_error(path, "an array"));
            };
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| decode_child(list, item, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>>>()
                .map(Value::Array)
        }
    }
}

/// `cam-switcher`, `CAM_SWITCHER` and `Cam Switcher` all name the same enum value.
fn normalize_enum(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

fn decode_child(list: &ChildList, item: Value, path: &str) -> Result<Value> {
    let Value::Object(map) = item else {
        return Err(type_error(path, "an object"));
    };
    let mut out = Map::new();
    for (key, value) in map {
        if key == "uuid" {
            if let Value::String(_) = value {
                out.insert(key, value);
            }
            continue;
        }
        if let Some(field) = list.fields.iter().find(|f| f.accepts_key(&key)) {
            let child_path = format!("{path}.{}", field.wire);
            out.insert(
                field.column.to_owned(),
                convert(&field.ty, value, &child_path)?,
            );
        } else if IGNORED_KEYS.contains(&key.as_str())
            || key == "version"
            || list
                .parent_keys
                .is_some_and(|(uuid_key, id_key)| key == uuid_key || key == id_key)
        {
            // Server-owned keys echoed back from a response.
        } else {
            return Err(StoreError::UnknownField {
                kind: "child record",
                field: format!("{path}.{key}"),
            });
        }
    }
    Ok(Value::Object(out))
}

/// The wire form of a stored row (embeds are added by the caller, which has the database).
pub fn encode(kind: &KindDef, entity: &Entity) -> Value {
    if let Some(custom) = kind.encode {
        return custom(entity);
    }
    let camel = kind.wire_case == WireCase::Camel;
    let key = |camel_key: &'static str, snake_key: &'static str| {
        if camel { camel_key } else { snake_key }
    };
    // Sized once: growing an index map rehashes every key (3 % of a list in the profile).
    let mut out = Map::with_capacity(kind.fields.len() + 12);
    if kind.key == KeyStyle::Uuid {
        out.insert("uuid".into(), Value::String(entity.uuid.clone()));
    }
    for field in &kind.fields {
        let value = entity
            .data
            .get(field.column)
            .cloned()
            .unwrap_or(Value::Null);
        let value = match (&field.ty, value) {
            (FieldType::Children(list), Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|child| encode_child(list, child, entity, camel))
                    .collect(),
            ),
            (_, value) => value,
        };
        for alias in &field.output_aliases {
            out.insert((*alias).to_owned(), value.clone());
        }
        out.insert(wire_name(kind, field).to_owned(), value);
    }
    if let Some(production_id) = &entity.production_id {
        out.insert(
            key("productionId", "production_id").into(),
            Value::String(production_id.clone()),
        );
    }
    out.insert(
        key("createdAt", "created_at").into(),
        entity.created_at.clone().into(),
    );
    out.insert(
        key("updatedAt", "updated_at").into(),
        entity.updated_at.clone().into(),
    );
    out.insert("version".into(), entity.version.into());
    out.insert(
        key("isDeleted", "is_deleted").into(),
        entity.is_deleted.into(),
    );
    out.insert(
        key("lastModifiedBy", "last_modified_by").into(),
        entity.last_modified_by.clone().into(),
    );
    out.insert(
        key("syncedAt", "synced_at").into(),
        entity.synced_at.clone().into(),
    );
    out.insert(key("fieldVersions", "field_versions").into(), Value::Null);
    Value::Object(out)
}

fn encode_child(list: &ChildList, child: &Value, parent: &Entity, camel: bool) -> Value {
    let mut out = Map::new();
    out.insert(
        "uuid".into(),
        child.get("uuid").cloned().unwrap_or(Value::Null),
    );
    for field in &list.fields {
        let name = if camel {
            field.wire.as_str()
        } else {
            field.column
        };
        out.insert(
            name.to_owned(),
            child.get(field.column).cloned().unwrap_or(Value::Null),
        );
    }
    if let Some((uuid_key, id_key)) = list.parent_keys {
        out.insert(uuid_key.into(), parent.uuid.clone().into());
        out.insert(
            id_key.into(),
            parent.data.get("id").cloned().unwrap_or(Value::Null),
        );
    }
    let (created, version) = if camel {
        ("createdAt", "version")
    } else {
        ("created_at", "version")
    };
    out.insert(
        created.into(),
        child
            .get("created_at")
            .cloned()
            .unwrap_or_else(|| parent.created_at.clone().into()),
    );
    out.insert(version.into(), Value::from(1));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::registry;
    use serde_json::json;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn converts_types_and_names_the_field_on_error() {
        let send = registry().kind("send");
        let decoded = decode_body(
            send,
            body(
                json!({"productionId":"p","name":"A","type":"VIDEO","hRes":"1920","rate":59.94,
                       "output":"HDMI","userId":"u1","userName":"Ann","version":3}),
            ),
        )
        .unwrap();
        assert_eq!(decoded.fields["h_res"], json!(1920));
        assert_eq!(decoded.fields["output_connector"], json!("HDMI"));
        assert_eq!(decoded.actor.as_deref(), Some("u1"));
        assert_eq!(decoded.version, Some(3));

        let err = decode_body(send, body(json!({"hRes":"wide"}))).unwrap_err();
        assert!(matches!(err, StoreError::InvalidField { ref field, .. } if field == "hRes"));
        let err = decode_body(send, body(json!({"hres":1}))).unwrap_err();
        assert!(matches!(err, StoreError::UnknownField { ref field, .. } if field == "hres"));
    }

    #[test]
    fn free_text_that_starts_with_a_date_stays_text() {
        let send = registry().kind("send");
        let decoded = decode_body(send, body(json!({"note":"2026-03-01 call venue"}))).unwrap();
        assert_eq!(decoded.fields["note"], json!("2026-03-01 call venue"));
    }

    #[test]
    fn enums_accept_both_spellings() {
        let ty = FieldType::Enum(crate::kinds::EQUIPMENT_CATEGORY);
        assert_eq!(
            convert(&ty, json!("cam-switcher"), "category").unwrap(),
            json!("CAM_SWITCHER")
        );
        assert_eq!(
            convert(&ty, json!("CAM_SWITCHER"), "category").unwrap(),
            json!("CAM_SWITCHER")
        );
        assert!(convert(&ty, json!("toaster"), "category").is_err());
    }

    #[test]
    fn dates_are_normalised_and_blank_numbers_are_null() {
        let production = registry().kind("production");
        let decoded = decode_body(
            production,
            body(json!({"name":"Show","loadIn":"2026-03-15"})),
        )
        .unwrap();
        assert_eq!(decoded.fields["show_name"], json!("Show"));
        assert_eq!(decoded.fields["load_in"], json!("2026-03-15T00:00:00.000Z"));
        let camera = registry().kind("camera");
        let decoded = decode_body(camera, body(json!({"maxZoom":""}))).unwrap();
        assert_eq!(decoded.fields["max_zoom"], Value::Null);
    }

    #[test]
    fn children_are_validated_with_a_path() {
        let source = registry().kind("source");
        let err = decode_body(
            source,
            body(json!({"outputs":[{"connector":"HDMI"},{"hRes":"x"}]})),
        )
        .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidField { ref field, .. } if field == "outputs[1].hRes"),
            "{err:?}"
        );
    }
}
