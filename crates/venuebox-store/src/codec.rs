//! Request bodies in, wire JSON out, both driven by the registry.
//!
//! Decoding checks every key of a body against the kind's fields: a known field is converted
//! to its type (or refused naming the field), request metadata the crew app always sends
//! (`userId`, `userName`, `fieldVersions`, server-owned keys echoed back from a GET) is taken
//! or ignored, and anything else is refused as an unknown field so a typo never silently
//! drops data.
use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use crate::clock;
use crate::error::{Result, StoreError};
use crate::model::{Entity, Row, StoredRow};
use crate::registry::{ChildList, Encode, FieldDef, FieldType, KeyStyle, KindDef, Scope, WireCase};

/// Keys the crew app sends with writes that are not row data (docs/contract.md §1.2), and keys the
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

/// A document as stored text. Written straight into a string: going through `Value`'s
/// `Display` (and cloning the map into a `Value` first) was an eighth of a create.
pub fn json_text(map: &Map<String, Value>) -> String {
    // A map with string keys always serializes; an error here would be a serde_json bug.
    serde_json::to_string(map).expect("a JSON object always serializes")
}

/// The wire form of a parsed row, written straight to a serializer: no second map per row
/// (building one — key strings, value clones, SipHash — was a third of a list in the callgrind
/// profile).
pub struct WireRow<'a> {
    pub kind: &'a KindDef,
    pub entity: &'a Entity,
    /// Related rows rendered by the caller, one per `kind.embeds` entry, in that order.
    pub embeds: &'a [Value],
}

impl WireRow<'_> {
    /// The row as a JSON value, with its embeds.
    pub fn to_value(self) -> Value {
        if let Some(encode) = self.kind.encode {
            // Already a value: serializing it into another was a fifth of applying a pull.
            return self.encoded(encode);
        }
        // Serializing into a Value fails only for non-string map keys, which a row never has.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The wire form from the kind's own encoder, with the embeds added.
    fn encoded(&self, encode: Encode) -> Value {
        let mut wire = encode(self.entity);
        if let Value::Object(map) = &mut wire {
            for (embed, related) in self.kind.embeds.iter().zip(self.embeds) {
                map.insert(embed.wire.to_owned(), related.clone());
            }
        }
        wire
    }
}

impl Serialize for WireRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (kind, entity) = (self.kind, self.entity);
        if let Some(encode) = kind.encode {
            return self.encoded(encode).serialize(serializer);
        }
        write_row(serializer, kind, entity, &entity.data, self.embeds)
    }
}

/// The wire form of a row whose document is still text: each field's value is copied from the
/// stored JSON as it is, with nothing parsed into a map (that parse was 43 % of a list of 50
/// in the profile). Only for kinds without a custom encoder, which needs the parsed row.
pub struct StoredWireRow<'a> {
    pub kind: &'a KindDef,
    pub row: &'a StoredRow,
    pub embeds: &'a [Value],
}

impl Serialize for StoredWireRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        debug_assert!(self.kind.encode.is_none());
        let doc = StoredDoc::parse(&self.row.data).map_err(serde::ser::Error::custom)?;
        write_row(serializer, self.kind, self.row, &doc, self.embeds)
    }
}

/// Where a field's value comes from when a row is written out.
#[derive(Debug, Clone, Copy)]
pub enum Slot<'a> {
    Missing,
    Value(&'a Value),
    /// The value's text in the stored document, valid JSON by construction.
    Raw(&'a RawValue),
}

impl Slot<'_> {
    /// The value parsed (for sorting and embeds, which look at a few fields).
    pub fn to_value(self) -> Value {
        match self {
            Slot::Missing => Value::Null,
            Slot::Value(value) => value.clone(),
            Slot::Raw(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
        }
    }
}

impl Serialize for Slot<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Slot::Missing => serializer.serialize_unit(),
            Slot::Value(value) => value.serialize(serializer),
            Slot::Raw(raw) => raw.serialize(serializer),
        }
    }
}

/// A row's document as the renderer reads it: field by field, in the kind's order.
pub trait Document {
    /// `cursor` is where the previous lookup ended: documents are written in field order, so
    /// the next field is usually found without a search.
    fn slot(&self, column: &str, cursor: &mut usize) -> Slot<'_>;
}

impl Document for Map<String, Value> {
    fn slot(&self, column: &str, _cursor: &mut usize) -> Slot<'_> {
        self.get(column).map_or(Slot::Missing, Slot::Value)
    }
}

/// A stored document read in place: its keys and the raw text of each value, in stored order,
/// borrowed from the row's text.
pub struct StoredDoc<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> StoredDoc<'a> {
    pub fn parse(text: &'a str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }

    /// The (key, raw value) pairs, in stored order.
    pub fn into_fields(self) -> Vec<(Cow<'a, str>, &'a RawValue)> {
        self.0
    }
}

impl Document for StoredDoc<'_> {
    fn slot(&self, column: &str, cursor: &mut usize) -> Slot<'_> {
        let found = match self.0.get(*cursor) {
            Some((key, _)) if key == column => Some(*cursor),
            _ => self.0.iter().position(|(key, _)| key == column),
        };
        match found {
            Some(at) => {
                *cursor = at + 1;
                Slot::Raw(self.0[at].1)
            }
            None => Slot::Missing,
        }
    }
}

impl<'de> Deserialize<'de> for StoredDoc<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DocVisitor;
        impl<'de> Visitor<'de> for DocVisitor {
            type Value = StoredDoc<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(32);
                while let Some(DocKey(key)) = map.next_key()? {
                    fields.push((key, map.next_value()?));
                }
                Ok(StoredDoc(fields))
            }
        }
        deserializer.deserialize_map(DocVisitor)
    }
}

/// A key borrowed from the document when it has no escapes (always, for column names).
struct DocKey<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for DocKey<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = DocKey<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
                Ok(DocKey(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
                Ok(DocKey(Cow::Owned(key.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The one writer of a row's wire form, whatever holds its document.
fn write_row<S: Serializer, D>(
    serializer: S,
    kind: &KindDef,
    row: &Row<D>,
    doc: &impl Document,
    embeds: &[Value],
) -> Result<S::Ok, S::Error> {
    let camel = kind.wire_case == WireCase::Camel;
    let key = |camel_key: &'static str, snake_key: &'static str| {
        if camel { camel_key } else { snake_key }
    };
    let parent = Parent {
        uuid: &row.uuid,
        id: doc.slot("id", &mut 0),
        created_at: &row.created_at,
        camel,
    };
    let mut map = serializer.serialize_map(None)?;
    if kind.key == KeyStyle::Uuid {
        map.serialize_entry("uuid", &row.uuid)?;
    }
    let mut cursor = 0;
    for field in &kind.fields {
        let value = FieldValue {
            field,
            slot: doc.slot(field.column, &mut cursor),
            parent: &parent,
        };
        for alias in &field.output_aliases {
            map.serialize_entry(alias, &value)?;
        }
        map.serialize_entry(wire_name(kind, field), &value)?;
    }
    if let Some(production_id) = &row.production_id {
        map.serialize_entry(key("productionId", "production_id"), production_id)?;
    }
    map.serialize_entry(key("createdAt", "created_at"), &row.created_at)?;
    map.serialize_entry(key("updatedAt", "updated_at"), &row.updated_at)?;
    map.serialize_entry("version", &row.version)?;
    map.serialize_entry(key("isDeleted", "is_deleted"), &row.is_deleted)?;
    map.serialize_entry(
        key("lastModifiedBy", "last_modified_by"),
        &row.last_modified_by,
    )?;
    map.serialize_entry(key("syncedAt", "synced_at"), &row.synced_at)?;
    map.serialize_entry(key("fieldVersions", "field_versions"), &Value::Null)?;
    for (embed, related) in kind.embeds.iter().zip(embeds) {
        map.serialize_entry(embed.wire, related)?;
    }
    map.end()
}

/// What a child record takes from its parent row.
struct Parent<'a> {
    uuid: &'a str,
    id: Slot<'a>,
    created_at: &'a str,
    camel: bool,
}

/// One stored field in wire form: child lists are renamed and given their parent's keys.
struct FieldValue<'a> {
    field: &'a FieldDef,
    slot: Slot<'a>,
    parent: &'a Parent<'a>,
}

impl Serialize for FieldValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let FieldType::Children(list) = &self.field.ty else {
            return self.slot.serialize(serializer);
        };
        let parent = self.parent;
        match self.slot {
            Slot::Value(Value::Array(items)) => write_children(
                serializer,
                list,
                parent,
                items
                    .iter()
                    .map(|item| item.as_object().map(|map| map as &dyn Document)),
            ),
            Slot::Raw(raw) => match serde_json::from_str::<Vec<Option<StoredDoc>>>(raw.get()) {
                Ok(docs) => write_children(
                    serializer,
                    list,
                    parent,
                    docs.iter()
                        .map(|doc| doc.as_ref().map(|doc| doc as &dyn Document)),
                ),
                // Not a list of objects only: rendered the way the parsed row is.
                Err(_) => match serde_json::from_str::<Value>(raw.get()) {
                    Ok(value) => FieldValue {
                        field: self.field,
                        slot: Slot::Value(&value),
                        parent,
                    }
                    .serialize(serializer),
                    Err(_) => raw.serialize(serializer),
                },
            },
            slot => slot.serialize(serializer),
        }
    }
}

fn write_children<'d, S: Serializer>(
    serializer: S,
    list: &ChildList,
    parent: &Parent<'_>,
    docs: impl Iterator<Item = Option<&'d dyn Document>>,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(docs.map(|doc| WireChild { list, doc, parent }))
}

struct WireChild<'a> {
    list: &'a ChildList,
    /// `None` for an item that is not an object: all its fields are null.
    doc: Option<&'a dyn Document>,
    parent: &'a Parent<'a>,
}

impl Serialize for WireChild<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let parent = self.parent;
        let mut cursor = 0;
        let mut stored = |column: &str| match self.doc {
            Some(doc) => doc.slot(column, &mut cursor),
            None => Slot::Missing,
        };
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("uuid", &stored("uuid"))?;
        for field in &self.list.fields {
            let name = if parent.camel {
                field.wire.as_str()
            } else {
                field.column
            };
            map.serialize_entry(name, &stored(field.column))?;
        }
        if let Some((uuid_key, id_key)) = self.list.parent_keys {
            map.serialize_entry(uuid_key, parent.uuid)?;
            map.serialize_entry(id_key, &parent.id)?;
        }
        let created = if parent.camel {
            "createdAt"
        } else {
            "created_at"
        };
        match stored("created_at") {
            Slot::Missing => map.serialize_entry(created, parent.created_at)?,
            at => map.serialize_entry(created, &at)?,
        }
        map.serialize_entry("version", &1)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::registry;
    use serde_json::json;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    /// Rows are written key by key, not through a map, so a key written twice would reach the
    /// client twice: every kind's wire keys (fields, aliases, metadata, embeds) are distinct.
    #[test]
    fn wire_rows_never_repeat_a_key() {
        for kind in registry().all() {
            let entity = Entity {
                kind: kind.name,
                uuid: "u".into(),
                production_id: Some("p".into()),
                data: Map::new(),
                version: 1,
                is_deleted: false,
                created_at: "2026-01-01T00:00:00.000Z".into(),
                updated_at: "2026-01-01T00:00:00.000Z".into(),
                last_modified_by: None,
                synced_at: None,
            };
            let embeds = vec![Value::Null; kind.embeds.len()];
            let row = WireRow {
                kind,
                entity: &entity,
                embeds: &embeds,
            };
            let text = serde_json::to_string(&row).unwrap();
            let mut keys = Vec::new();
            let mut stream = serde_json::Deserializer::from_str(&text);
            serde::Deserializer::deserialize_map(&mut stream, KeyCollector(&mut keys)).unwrap();
            let distinct: std::collections::HashSet<_> = keys.iter().collect();
            assert_eq!(distinct.len(), keys.len(), "{}: {keys:?}", kind.name);
            assert_eq!(
                serde_json::from_str::<Value>(&text).unwrap(),
                row.to_value()
            );
        }
    }

    fn sample(ty: &FieldType, n: usize) -> Value {
        match ty {
            FieldType::Int | FieldType::EpochMs => json!(n as i64 * 1_000_003),
            FieldType::Real => json!(59.94 + n as f64),
            FieldType::Bool => json!(n.is_multiple_of(2)),
            FieldType::Json => json!({"nested": [1, "two", null], "n": n}),
            FieldType::Enum(allowed) => json!(allowed[n % allowed.len()]),
            FieldType::Children(list) => json!([
                list.fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.column.to_owned(), sample(&f.ty, i)))
                    .chain([("uuid".to_owned(), json!("child-1"))])
                    .collect::<Map<_, _>>(),
                {"uuid": "child-2", "created_at": "2026-02-02T00:00:00.000Z"},
                "not an object"
            ]),
            _ => json!(format!("text {n} \"quoted\" é ✓\n\t\u{1}")),
        }
    }

    /// A list is written from the stored text, a row elsewhere from the parsed document: both
    /// must give the same bytes, whatever the field types, the stored key order or escapes.
    #[test]
    fn stored_rows_render_exactly_like_parsed_rows() {
        for kind in registry().all().iter().filter(|k| k.encode.is_none()) {
            let fields: Map<String, Value> = kind
                .fields
                .iter()
                .enumerate()
                .map(|(n, f)| (f.column.to_owned(), sample(&f.ty, n)))
                .collect();
            let mut reversed: Map<String, Value> = fields.clone().into_iter().rev().collect();
            reversed.insert("unknown_extra".into(), json!(1));
            for (n, data) in [fields.clone(), reversed, Map::new()]
                .into_iter()
                .enumerate()
            {
                let entity = Entity {
                    kind: kind.name,
                    uuid: "u-1".into(),
                    production_id: (n != 2).then(|| "p".into()),
                    data: data.clone(),
                    version: 7,
                    is_deleted: n == 1,
                    created_at: "2026-01-01T00:00:00.000Z".into(),
                    updated_at: "2026-01-02T00:00:00.000Z".into(),
                    last_modified_by: Some("ann".into()),
                    synced_at: None,
                };
                let embeds = vec![json!({"embedded": true}); kind.embeds.len()];
                let parsed = serde_json::to_string(&WireRow {
                    kind,
                    entity: &entity,
                    embeds: &embeds,
                })
                .unwrap();
                // Stored as the writer stores it, and with a key spelled with an escape.
                let text =
                    serde_json::to_string(&data)
                        .unwrap()
                        .replacen("\"id\"", "\"\\u0069d\"", 1);
                let stored = StoredRow {
                    kind: entity.kind,
                    uuid: entity.uuid.clone(),
                    production_id: entity.production_id.clone(),
                    data: text,
                    version: entity.version,
                    is_deleted: entity.is_deleted,
                    created_at: entity.created_at.clone(),
                    updated_at: entity.updated_at.clone(),
                    last_modified_by: entity.last_modified_by.clone(),
                    synced_at: entity.synced_at.clone(),
                };
                let from_text = serde_json::to_string(&StoredWireRow {
                    kind,
                    row: &stored,
                    embeds: &embeds,
                })
                .unwrap();
                assert_eq!(parsed, from_text, "{} (document {n})", kind.name);
            }
        }
    }

    /// Collects the top-level keys of a JSON object in order, duplicates included.
    struct KeyCollector<'a>(&'a mut Vec<String>);

    impl<'de> serde::de::Visitor<'de> for KeyCollector<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<serde::de::IgnoredAny>()?;
                self.0.push(key);
            }
            Ok(())
        }
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
