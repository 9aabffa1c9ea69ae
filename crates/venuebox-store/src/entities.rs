//! Reading and writing rows of any kind. Every write goes through [`create`], [`update`] or
//! [`delete`] inside the writer's transaction ([`crate::writer::WriteTx`]); each records a
//! [`ChangeEvent`] that is published only after the transaction is on disk.
use std::collections::HashSet;

use rusqlite::{Connection, params};
use serde_json::{Map, Value};

use crate::clock;
use crate::codec::{self, Decoded};
use crate::error::{Result, StoreError};
use crate::labels;
use crate::model::{Actor, Entity, Operation, derived_uuid};
use crate::read::{record, render};
use crate::registry::WriteCtx;
use crate::registry::{ChildList, DeleteMode, FieldType, KeyStyle, KindDef, Scope, WireCase};
use crate::replica::{self, LocalChange};
use crate::rows::{IfTaken, NewRow, insert_row, load, load_live, remove_row, require_production};
use crate::writer::WriteTx;

/// Options a caller inside the box (seeding, settings routes) may set on a create.
#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    /// Use this uuid instead of generating one (seed data: the same on every node).
    pub uuid: Option<String>,
    /// Set computed fields too (seeding system formats).
    pub computed: Map<String, Value>,
}

/// A new row's uuid: version 7 (milliseconds, then 74 random bits), time-ordered, so
/// consecutive creates land on the same last leaf of every uuid index (here, in the outbox and
/// on the hub) instead of a random one each. A random key dirtied one more page per create
/// and index in every commit and made the writer read cold index pages back. The random bits
/// come from the thread's seeded generator rather than a getrandom call per row. Clients
/// treat the uuid as opaque.
fn new_row_uuid() -> String {
    let millis = u64::try_from(clock::now_ms()).unwrap_or_default();
    uuid::Builder::from_unix_timestamp_millis(millis, &rand::random())
        .into_uuid()
        .to_string()
}

pub fn create(
    tx: &mut WriteTx<'_>,
    kind: &'static KindDef,
    decoded: Decoded,
    options: CreateOptions,
) -> Result<Entity> {
    let conn = tx.conn();
    let production_id = match kind.scope {
        Scope::Production => {
            let id = decoded
                .production_id
                .clone()
                .ok_or_else(|| StoreError::MissingField {
                    field: "productionId".into(),
                })?;
            require_production(conn, &id)?;
            Some(id)
        }
        Scope::Global => None,
    };
    let now = clock::now_iso();
    let mut doc = Map::new();
    for field in &kind.fields {
        let value = decoded
            .fields
            .get(field.column)
            .or_else(|| options.computed.get(field.column))
            .cloned()
            .filter(|v| !v.is_null())
            .or_else(|| field.default.clone())
            .unwrap_or(Value::Null);
        doc.insert(field.column.to_owned(), value);
    }
    if let Some(hook) = kind.before_write {
        hook(&mut WriteCtx {
            conn,
            kind,
            production_id: production_id.as_deref(),
            existing: None,
            fields: &mut doc,
            now_ms: clock::now_ms(),
        })?;
    }
    if doc.get("id").is_none_or(Value::is_null) && !kind.field("id").is_some_and(|f| f.required) {
        let generated = match tx.labels() {
            Some(labels) => labels.next(conn, kind, production_id.as_deref())?,
            None => labels::next_detached(conn, kind, production_id.as_deref())?,
        };
        doc.insert("id".into(), Value::String(generated));
    } else if let Some(labels) = tx.labels() {
        labels.saw(kind, production_id.as_deref(), &doc);
    }
    let uuid = match (&options.uuid, kind.key, kind.natural_key) {
        (Some(uuid), _, _) => uuid.clone(),
        (None, KeyStyle::DisplayId, _) => doc["id"].as_str().unwrap_or_default().to_owned(),
        (None, KeyStyle::Uuid, Some(column)) => match doc.get(column).and_then(Value::as_str) {
            Some(value) => derived_uuid(&[kind.name, value]),
            None => new_row_uuid(),
        },
        (None, KeyStyle::Uuid, None) => new_row_uuid(),
    };
    let parent_display = doc
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    normalize_all_children(kind, &mut doc, None, &uuid, &parent_display, &now)?;
    check_required(kind, &doc)?;
    check_unique(conn, kind, production_id.as_deref(), &uuid, &doc)?;

    // The create's clock is written with the row (every field is new), so the sync outbox
    // needs neither the row's previous clocks nor a second write to stamp them.
    let stamp = tx.clock().map(|clock| clock.tick());
    let clocks: Map<String, Value> = match &stamp {
        Some(hlc) => {
            let text = Value::String(hlc.to_string());
            doc.keys()
                .map(|column| (column.clone(), text.clone()))
                .collect()
        }
        None => Map::new(),
    };
    let row = NewRow {
        kind,
        uuid: &uuid,
        production_id: production_id.as_deref(),
        data: &doc,
        is_deleted: false,
        clocks: &clocks,
        created_at: &now,
        updated_at: &now,
        actor: decoded.actor.as_deref(),
    };
    if !insert_row(conn, &row, IfTaken::Keep)? {
        return Err(StoreError::Duplicate(format!(
            "{} \"{}\" already exists",
            kind.label,
            doc.get("id").and_then(Value::as_str).unwrap_or(&uuid)
        )));
    }
    let entity = row.to_entity();
    let changed = entity.data.clone();
    let actor = Actor {
        id: decoded.actor,
        name: decoded.actor_name,
    };
    replica::record_local(
        tx,
        LocalChange::Create {
            entity: &entity,
            stamp,
        },
    )?;
    record(tx, kind, &entity, Operation::Created, changed, actor)?;
    Ok(entity)
}

pub fn update(
    tx: &mut WriteTx<'_>,
    kind: &'static KindDef,
    key: &str,
    decoded: Decoded,
) -> Result<Entity> {
    let conn = tx.conn();
    let existing = match load(conn, kind, key)? {
        Some(row) if !row.is_deleted || decoded.is_deleted == Some(false) => row,
        _ => return Err(StoreError::NotFound { label: kind.label }),
    };
    refuse_protected(kind, &existing, "modified")?;
    match decoded.version {
        None if kind.version_required => return Err(StoreError::VersionRequired),
        Some(client) if client != existing.version => {
            return Err(StoreError::VersionConflict {
                label: kind.label,
                current_version: existing.version,
                client_version: client,
                server_data: Box::new(render(conn, kind, &existing)?),
            });
        }
        _ => {}
    }
    if let Some(production_id) = &decoded.production_id
        && existing.production_id.as_ref() != Some(production_id)
    {
        return Err(StoreError::invalid(
            "productionId",
            "Field \"productionId\" cannot be changed: a row stays in its production",
        ));
    }
    let mut changes = decoded.fields;
    if kind.key == KeyStyle::DisplayId
        && let Some(id) = changes.remove("id")
        && id.as_str() != Some(existing.uuid.as_str())
    {
        return Err(StoreError::invalid("id", "Field \"id\" cannot be changed"));
    }
    if let Some(hook) = kind.before_write {
        hook(&mut WriteCtx {
            conn,
            kind,
            production_id: existing.production_id.as_deref(),
            existing: Some(&existing),
            fields: &mut changes,
            now_ms: clock::now_ms(),
        })?;
    }
    let now = clock::now_iso();
    let mut data = existing.data.clone();
    let parent_display = changes
        .get("id")
        .or_else(|| existing.data.get("id"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    normalize_all_children(
        kind,
        &mut changes,
        Some(&existing.data),
        &existing.uuid,
        &parent_display,
        &now,
    )?;
    for (column, value) in &changes {
        data.insert(column.clone(), value.clone());
    }
    check_required(kind, &data)?;
    // Only the columns this write changes: rows pulled from the hub may already share a value
    // (two boxes gave out the same IP while apart), and that must not block every other edit.
    check_unique(
        conn,
        kind,
        existing.production_id.as_deref(),
        &existing.uuid,
        &changes,
    )?;
    if let Some(labels) = tx.labels() {
        labels.saw(kind, existing.production_id.as_deref(), &changes);
    }
    let requested_by = decoded.actor.clone();
    let was_deleted = existing.is_deleted;
    let actor = decoded.actor.or(existing.last_modified_by.clone());
    conn.prepare_cached(
        "UPDATE entities SET data = ?2, version = version + 1, is_deleted = 0, updated_at = ?3, \
         last_modified_by = ?4 WHERE uuid = ?1",
    )?
    .execute(params![existing.uuid, codec::json_text(&data), now, actor])?;
    let entity = Entity {
        data,
        version: existing.version + 1,
        is_deleted: false,
        updated_at: now,
        last_modified_by: actor.clone(),
        ..existing
    };
    let actor = Actor {
        id: requested_by,
        name: decoded.actor_name,
    };
    let mut sync_fields = changes.clone();
    if was_deleted {
        sync_fields.insert(replica::DELETED_FIELD.into(), Value::Bool(false));
    }
    replica::record_local(
        tx,
        LocalChange::Upsert {
            entity: &entity,
            fields: sync_fields,
        },
    )?;
    record(tx, kind, &entity, Operation::Updated, changes, actor)?;
    Ok(entity)
}

pub fn delete(
    tx: &mut WriteTx<'_>,
    kind: &'static KindDef,
    key: &str,
    actor: Actor,
) -> Result<Entity> {
    let conn = tx.conn();
    let existing = load_live(conn, kind, key)?;
    refuse_protected(kind, &existing, "deleted")?;
    let now = clock::now_iso();
    let entity = match kind.delete {
        DeleteMode::Soft => {
            conn.prepare_cached(
                "UPDATE entities SET is_deleted = 1, version = version + 1, updated_at = ?2 \
                 WHERE uuid = ?1",
            )?
            .execute(params![existing.uuid, now])?;
            let entity = Entity {
                is_deleted: true,
                version: existing.version + 1,
                updated_at: now,
                ..existing
            };
            let archived = Map::from_iter([(replica::DELETED_FIELD.to_owned(), Value::Bool(true))]);
            replica::record_local(
                tx,
                LocalChange::Upsert {
                    entity: &entity,
                    fields: archived,
                },
            )?;
            entity
        }
        DeleteMode::Hard => {
            // Recorded first: the tombstone's base is the newest clock on the row.
            replica::record_local(tx, LocalChange::Delete { entity: &existing })?;
            remove_row(conn, kind, &existing)?;
            existing
        }
    };
    record(tx, kind, &entity, Operation::Deleted, Map::new(), actor)?;
    Ok(entity)
}

fn refuse_protected(kind: &KindDef, entity: &Entity, verb: &str) -> Result<()> {
    match kind.protected_flag {
        Some(flag) if entity.data.get(flag) == Some(&Value::Bool(true)) => {
            Err(StoreError::Forbidden(format!(
                "System {} presets cannot be {verb}",
                kind.label.to_lowercase()
            )))
        }
        _ => Ok(()),
    }
}

fn check_required(kind: &KindDef, doc: &Map<String, Value>) -> Result<()> {
    for field in kind.fields.iter().filter(|f| f.required) {
        if doc.get(field.column).is_none_or(Value::is_null) {
            return Err(StoreError::MissingField {
                field: codec::wire_name(kind, field).to_owned(),
            });
        }
    }
    Ok(())
}

fn check_unique(
    conn: &Connection,
    kind: &KindDef,
    production_id: Option<&str>,
    uuid: &str,
    doc: &Map<String, Value>,
) -> Result<()> {
    for column in &kind.unique {
        let Some(value) = doc.get(*column).and_then(Value::as_str) else {
            continue;
        };
        let taken: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM entities WHERE kind = ?1 AND production_id IS ?2 \
                 AND is_deleted = 0 AND uuid <> ?3 AND json_extract(data, '$.' || ?4) = ?5)",
            )?
            .query_row(
                params![kind.name, production_id, uuid, column, value],
                |r| r.get(0),
            )?;
        if taken {
            let wire = kind
                .field(column)
                .map(|f| codec::wire_name(kind, f))
                .unwrap_or(column);
            return Err(StoreError::Duplicate(format!(
                "{} {wire} \"{value}\" already exists",
                kind.label
            )));
        }
    }
    Ok(())
}

fn normalize_all_children(
    kind: &KindDef,
    doc: &mut Map<String, Value>,
    previous: Option<&Map<String, Value>>,
    parent_uuid: &str,
    parent_display: &str,
    now: &str,
) -> Result<()> {
    for field in &kind.fields {
        let FieldType::Children(list) = &field.ty else {
            continue;
        };
        let Some(value) = doc.get_mut(field.column) else {
            continue;
        };
        if value.is_null() {
            *value = Value::Array(Vec::new());
        }
        let old = previous
            .and_then(|p| p.get(field.column))
            .and_then(Value::as_array);
        let path = match kind.wire_case {
            WireCase::Camel => field.wire.clone(),
            WireCase::Snake => field.column.to_owned(),
        };
        normalize_children(
            list,
            value,
            old,
            &[parent_uuid, field.column],
            parent_display,
            now,
            &path,
        )?;
    }
    Ok(())
}

/// Gives every child a stable uuid (kept from the previous version of the list when the
/// child is the same one, else derived from the parent and the child's id), a display id,
/// an index, a creation time and every declared field.
fn normalize_children(
    list: &ChildList,
    value: &mut Value,
    old: Option<&Vec<Value>>,
    scope: &[&str],
    parent_display: &str,
    now: &str,
    path: &str,
) -> Result<()> {
    let Value::Array(items) = value else {
        return Ok(());
    };
    let old_items: &[Value] = old.map(Vec::as_slice).unwrap_or_default();
    let mut used = HashSet::new();
    for (position, item) in items.iter_mut().enumerate() {
        let Value::Object(child) = item else { continue };
        let n = position + 1;
        if child.get("id").is_none_or(Value::is_null)
            && let Some(make_id) = list.default_id
        {
            child.insert("id".into(), Value::String(make_id(parent_display, n)));
        }
        if let Some(column) = list.index_column
            && child.get(column).is_none_or(Value::is_null)
        {
            child.insert(
                column.into(),
                Value::from(position as i64 + list.index_base),
            );
        }
        let id = child.get("id").and_then(Value::as_str).map(str::to_owned);
        let sent_uuid = child.get("uuid").and_then(Value::as_str).map(str::to_owned);
        let previous = old_items
            .iter()
            .find(|o| {
                sent_uuid.is_some() && o.get("uuid").and_then(Value::as_str) == sent_uuid.as_deref()
            })
            .or_else(|| {
                old_items.iter().find(|o| {
                    id.is_some()
                        && o.get("id").and_then(Value::as_str) == id.as_deref()
                        && !used.contains(o.get("uuid").and_then(Value::as_str).unwrap_or_default())
                })
            });
        let mut uuid = match (previous, &id) {
            (Some(p), _) => p
                .get("uuid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            (None, Some(id)) => {
                let mut parts = scope.to_vec();
                parts.push(id);
                derived_uuid(&parts)
            }
            (None, None) => new_row_uuid(),
        };
        if uuid.is_empty() || used.contains(&uuid) {
            // Same id twice in one list (an input and an output both called "sdi-1"):
            // the position keeps the uuid deterministic, so every node derives the same one.
            let mut parts = scope.to_vec();
            let position_text = position.to_string();
            parts.extend([id.as_deref().unwrap_or_default(), position_text.as_str()]);
            uuid = derived_uuid(&parts);
        }
        used.insert(uuid.clone());
        let created = previous
            .and_then(|p| p.get("created_at"))
            .cloned()
            .unwrap_or_else(|| Value::String(now.to_owned()));
        for field in &list.fields {
            if child.get(field.column).is_none_or(Value::is_null) {
                let default = field.default.clone().unwrap_or(Value::Null);
                child.insert(field.column.to_owned(), default);
            }
            if field.required && child[field.column].is_null() {
                return Err(StoreError::MissingField {
                    field: format!("{path}[{position}].{}", field.wire),
                });
            }
        }
        for field in &list.fields {
            if let FieldType::Children(nested) = &field.ty {
                let old_nested = previous
                    .and_then(|p| p.get(field.column))
                    .and_then(Value::as_array);
                let mut nested_scope = scope.to_vec();
                nested_scope.push(&uuid);
                let nested_value = child.get_mut(field.column).expect("filled above");
                if nested_value.is_null() {
                    *nested_value = Value::Array(Vec::new());
                }
                let nested_path = format!("{path}[{position}].{}", field.wire);
                let own_display = id.clone().unwrap_or_default();
                normalize_children(
                    nested,
                    nested_value,
                    old_nested,
                    &nested_scope,
                    &own_display,
                    now,
                    &nested_path,
                )?;
            }
        }
        child.insert("uuid".into(), Value::String(uuid));
        child.insert("created_at".into(), created);
    }
    Ok(())
}
