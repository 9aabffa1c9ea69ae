//! Reading and writing rows of any kind. Every write goes through [`create`], [`update`] or
//! [`delete`] inside the writer's transaction ([`crate::writer::WriteTx`]); each records a
//! [`ChangeEvent`] that is published only after the transaction is on disk.
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use crate::clock;
use crate::codec::{self, Decoded, Document, StoredDoc, StoredWireRow, WireRow};
use crate::error::{Result, StoreError};
use crate::kinds::registry;
use crate::registry::{
    ChildList, DeleteMode, Direction, FieldType, KeyStyle, KindDef, Scope, WireCase,
};
use crate::replica::{self, LocalChange};
use crate::writer::WriteTx;

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

/// What a kind's `before_write` hook sees.
pub struct WriteCtx<'a> {
    pub conn: &'a Connection,
    pub kind: &'static KindDef,
    pub production_id: Option<&'a str>,
    pub existing: Option<&'a Entity>,
    /// On create the whole new document; on update the changed fields only.
    pub fields: &'a mut Map<String, Value>,
    pub now_ms: i64,
}

impl WriteCtx<'_> {
    /// The value a field will have after this write.
    pub fn value(&self, column: &str) -> Option<&Value> {
        self.fields
            .get(column)
            .or_else(|| self.existing.and_then(|e| e.data.get(column)))
    }
}

const COLUMNS: &str = "uuid, kind, production_id, data, version, is_deleted, created_at, \
                       updated_at, last_modified_by, synced_at";

fn row_to_entity(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entity> {
    read_row(row, |text| match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    })
}

fn row_to_stored(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRow> {
    read_row(row, |text| Some(text.to_owned()))
}

fn read_row<D>(
    row: &rusqlite::Row<'_>,
    document: impl FnOnce(&str) -> Option<D>,
) -> rusqlite::Result<Row<D>> {
    // Both text columns are read in place from SQLite's buffer, not copied into a String first.
    let kind_name = row.get_ref(1)?.as_str()?;
    let kind = registry().get(kind_name).map(|k| k.name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            1,
            rusqlite::types::Type::Text,
            format!("unknown kind {kind_name:?}").into(),
        )
    })?;
    let data = document(row.get_ref(3)?.as_str()?).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            "row data is not a JSON object".into(),
        )
    })?;
    Ok(Row {
        kind,
        uuid: row.get(0)?,
        production_id: row.get(2)?,
        data,
        version: row.get(4)?,
        is_deleted: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        last_modified_by: row.get(8)?,
        synced_at: row.get(9)?,
    })
}

pub fn load(conn: &Connection, kind: &KindDef, uuid: &str) -> Result<Option<Entity>> {
    load_as(conn, kind, uuid, row_to_entity)
}

/// One row by uuid, parsed or as stored depending on `read`.
fn load_as<D>(
    conn: &Connection,
    kind: &KindDef,
    uuid: &str,
    read: fn(&rusqlite::Row<'_>) -> rusqlite::Result<Row<D>>,
) -> Result<Option<Row<D>>> {
    let sql = format!("SELECT {COLUMNS} FROM entities WHERE uuid = ?1 AND kind = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![uuid, kind.name], read)
        .optional()?)
}

fn load_live(conn: &Connection, kind: &KindDef, uuid: &str) -> Result<Entity> {
    load_live_as(conn, kind, uuid, row_to_entity)
}

fn load_live_as<D>(
    conn: &Connection,
    kind: &KindDef,
    uuid: &str,
    read: fn(&rusqlite::Row<'_>) -> rusqlite::Result<Row<D>>,
) -> Result<Row<D>> {
    match load_as(conn, kind, uuid, read)? {
        Some(row) if !row.is_deleted => Ok(row),
        _ => Err(StoreError::NotFound { label: kind.label }),
    }
}

/// Refuses a per-production write or list for a production that is not (or no longer) here.
pub fn require_production(conn: &Connection, production_id: &str) -> Result<()> {
    let deleted: Option<bool> = conn
        .prepare_cached("SELECT is_deleted FROM entities WHERE kind = 'production' AND uuid = ?1")?
        .query_row([production_id], |row| row.get(0))
        .optional()?;
    match deleted {
        Some(false) => Ok(()),
        Some(true) => Err(StoreError::ProductionNotFound {
            production_id: production_id.to_owned(),
            deleted: true,
        }),
        None => Err(StoreError::ProductionNotFound {
            production_id: production_id.to_owned(),
            deleted: false,
        }),
    }
}

/// Rows of a kind, in the kind's declared order, in wire form with embeds.
pub fn list(
    conn: &Connection,
    kind: &KindDef,
    production_id: Option<&str>,
    deleted: bool,
) -> Result<Vec<Value>> {
    let rows = list_sorted(conn, kind, production_id, deleted)?;
    render_rows(conn, kind, &rows)
}

/// Rows in wire form as values, with their embeds.
fn render_rows(conn: &Connection, kind: &KindDef, rows: &[Entity]) -> Result<Vec<Value>> {
    let mut cache = HashMap::new();
    rows.iter()
        .map(|entity| {
            let embeds = entity.embeds(conn, kind, &mut cache)?;
            Ok(WireRow {
                kind,
                entity,
                embeds: &embeds,
            }
            .to_value())
        })
        .collect()
}

/// The same list as [`list`], already serialized: what the REST API sends. Rows are written
/// from their stored text (see [`codec::StoredWireRow`]) unless the kind has its own encoder.
pub fn list_json(
    conn: &Connection,
    kind: &KindDef,
    production_id: Option<&str>,
    deleted: bool,
) -> Result<Vec<u8>> {
    if kind.encode.is_some() {
        let rows = list_sorted(conn, kind, production_id, deleted)?;
        return rows_json(conn, kind, &rows);
    }
    let mut rows = query_rows(conn, kind, production_id, deleted, row_to_stored)?;
    sort_stored(kind, &mut rows);
    rows_json(conn, kind, &rows)
}

/// One live row, serialized (from its stored text unless the kind has its own encoder).
pub fn get_json(conn: &Connection, kind: &KindDef, key: &str) -> Result<Vec<u8>> {
    if kind.encode.is_some() {
        row_json(conn, kind, &load_live(conn, kind, key)?)
    } else {
        row_json(conn, kind, &load_live_as(conn, kind, key, row_to_stored)?)
    }
}

/// A row that can be written in wire form: parsed ([`Entity`]) or as stored ([`StoredRow`]).
trait WireForm {
    fn embeds(
        &self,
        conn: &Connection,
        kind: &KindDef,
        cache: &mut HashMap<String, Value>,
    ) -> Result<Vec<Value>>;
    fn wire<'a>(&'a self, kind: &'a KindDef, embeds: &'a [Value]) -> impl serde::Serialize + 'a;
}

impl WireForm for Entity {
    fn embeds(
        &self,
        conn: &Connection,
        kind: &KindDef,
        cache: &mut HashMap<String, Value>,
    ) -> Result<Vec<Value>> {
        embeds_of(conn, kind, &self.data, cache)
    }
    fn wire<'a>(&'a self, kind: &'a KindDef, embeds: &'a [Value]) -> impl serde::Serialize + 'a {
        WireRow {
            kind,
            entity: self,
            embeds,
        }
    }
}

impl WireForm for StoredRow {
    fn embeds(
        &self,
        conn: &Connection,
        kind: &KindDef,
        cache: &mut HashMap<String, Value>,
    ) -> Result<Vec<Value>> {
        if kind.embeds.is_empty() {
            return Ok(Vec::new());
        }
        embeds_of(conn, kind, &stored_doc(self)?, cache)
    }
    fn wire<'a>(&'a self, kind: &'a KindDef, embeds: &'a [Value]) -> impl serde::Serialize + 'a {
        StoredWireRow {
            kind,
            row: self,
            embeds,
        }
    }
}

fn stored_doc(row: &StoredRow) -> Result<StoredDoc<'_>> {
    StoredDoc::parse(&row.data)
        .map_err(|err| StoreError::Corrupt(format!("row {}: {err}", row.uuid)))
}

fn rows_json<R: WireForm>(conn: &Connection, kind: &KindDef, rows: &[R]) -> Result<Vec<u8>> {
    // Embeds share one cache (fifty ports on one device load the device once).
    let mut cache = HashMap::new();
    let embeds = rows
        .iter()
        .map(|row| row.embeds(conn, kind, &mut cache))
        .collect::<Result<Vec<_>>>()?;
    // Sized once for the whole answer (about 1.5 KiB a row for the busiest kinds): growing a
    // 50 KiB buffer by doubling copied it seven times.
    let mut out = Vec::with_capacity(512 + rows.len() * 1536);
    let mut serializer = serde_json::Serializer::new(&mut out);
    serde::Serializer::collect_seq(
        &mut serializer,
        rows.iter()
            .zip(&embeds)
            .map(|(row, embeds)| row.wire(kind, embeds)),
    )
    .map_err(|err| StoreError::Internal(err.to_string()))?;
    Ok(out)
}

fn row_json<R: WireForm>(conn: &Connection, kind: &KindDef, row: &R) -> Result<Vec<u8>> {
    let embeds = row.embeds(conn, kind, &mut HashMap::new())?;
    let mut out = Vec::with_capacity(1536);
    serde_json::to_writer(&mut out, &row.wire(kind, &embeds))
        .map_err(|err| StoreError::Internal(err.to_string()))?;
    Ok(out)
}

fn list_sorted(
    conn: &Connection,
    kind: &KindDef,
    production_id: Option<&str>,
    deleted: bool,
) -> Result<Vec<Entity>> {
    let mut rows = list_entities(conn, kind, production_id, deleted)?;
    sort_entities(kind, &mut rows);
    Ok(rows)
}

pub fn list_entities(
    conn: &Connection,
    kind: &KindDef,
    production_id: Option<&str>,
    deleted: bool,
) -> Result<Vec<Entity>> {
    query_rows(conn, kind, production_id, deleted, row_to_entity)
}

/// Rows of a kind (of one production, or all), live or deleted, oldest first.
fn query_rows<D>(
    conn: &Connection,
    kind: &KindDef,
    production_id: Option<&str>,
    deleted: bool,
    read: fn(&rusqlite::Row<'_>) -> rusqlite::Result<Row<D>>,
) -> Result<Vec<Row<D>>> {
    if let Some(production_id) = production_id {
        require_production(conn, production_id)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM entities WHERE production_id = ?1 AND kind = ?2 \
             AND is_deleted = ?3 ORDER BY created_at, rowid"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![production_id, kind.name, deleted], read)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    } else {
        let sql = format!(
            "SELECT {COLUMNS} FROM entities WHERE kind = ?1 AND is_deleted = ?2 \
             ORDER BY created_at, rowid"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![kind.name, deleted], read)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// One live row in wire form.
pub fn get(conn: &Connection, kind: &KindDef, key: &str) -> Result<Value> {
    let entity = load_live(conn, kind, key)?;
    render(conn, kind, &entity)
}

/// Wire form of a row, with its embedded related rows.
pub fn render(conn: &Connection, kind: &KindDef, entity: &Entity) -> Result<Value> {
    let embeds = embeds_of(conn, kind, &entity.data, &mut HashMap::new())?;
    Ok(WireRow {
        kind,
        entity,
        embeds: &embeds,
    }
    .to_value())
}

/// The related rows a row embeds (`outputPort`), in wire form, one per `kind.embeds` entry.
fn embeds_of(
    conn: &Connection,
    kind: &KindDef,
    doc: &impl Document,
    cache: &mut HashMap<String, Value>,
) -> Result<Vec<Value>> {
    kind.embeds
        .iter()
        .map(|embed| {
            let Value::String(uuid) = doc.slot(embed.column, &mut 0).to_value() else {
                return Ok(Value::Null);
            };
            let uuid = uuid.as_str();
            if let Some(hit) = cache.get(uuid) {
                return Ok(hit.clone());
            }
            let related_kind = registry().kind(embed.kind);
            let value = match load(conn, related_kind, uuid)? {
                Some(row) => {
                    let nested = embeds_of(conn, related_kind, &row.data, cache)?;
                    WireRow {
                        kind: related_kind,
                        entity: &row,
                        embeds: &nested,
                    }
                    .to_value()
                }
                None => Value::Null,
            };
            cache.insert(uuid.to_owned(), value.clone());
            Ok(value)
        })
        .collect()
}

fn sort_entities(kind: &KindDef, rows: &mut Vec<Entity>) {
    sort_by_order(kind, rows, |entity, column| match column {
        "created_at" => Value::String(entity.created_at.clone()),
        column => entity.data.get(column).cloned().unwrap_or(Value::Null),
    });
}

/// Stored rows in the kind's declared order: documents are parsed for their order columns
/// only.
fn sort_stored(kind: &KindDef, rows: &mut Vec<StoredRow>) {
    sort_by_order(kind, rows, |row, column| match column {
        "created_at" => Value::String(row.created_at.clone()),
        column => StoredDoc::parse(&row.data)
            .map(|doc| doc.slot(column, &mut 0).to_value())
            .unwrap_or(Value::Null),
    });
}

/// Sorts rows (stably) by the kind's `order` columns; `value` reads one column of a row, and
/// is called once per row and column, not once per comparison.
fn sort_by_order<R>(kind: &KindDef, rows: &mut Vec<R>, value: impl Fn(&R, &str) -> Value) {
    if kind.order.is_empty() {
        return;
    }
    let mut keyed: Vec<(Vec<Value>, R)> = rows
        .drain(..)
        .map(|row| {
            let keys = kind
                .order
                .iter()
                .map(|(column, _)| value(&row, column))
                .collect();
            (keys, row)
        })
        .collect();
    keyed.sort_by(|(a, _), (b, _)| {
        for ((column, direction), (va, vb)) in kind.order.iter().zip(a.iter().zip(b)) {
            let ordering = compare_values(kind, column, Some(va), Some(vb));
            let ordering = match direction {
                Direction::Asc => ordering,
                Direction::Desc => ordering.reverse(),
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    });
    rows.extend(keyed.into_iter().map(|(_, row)| row));
}

fn compare_values(
    kind: &KindDef,
    column: &str,
    va: Option<&Value>,
    vb: Option<&Value>,
) -> Ordering {
    let rank = |v: Option<&Value>| -> Option<f64> {
        match (kind.field(column).map(|f| &f.ty), v) {
            (Some(FieldType::Enum(allowed)), Some(Value::String(s))) => {
                allowed.iter().position(|c| c == s).map(|p| p as f64)
            }
            (_, Some(Value::Number(n))) => n.as_f64(),
            (_, Some(Value::Bool(b))) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    };
    match (va, vb) {
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        // Nulls last, as PostgreSQL orders ascending.
        (None | Some(Value::Null), _) => Ordering::Greater,
        (_, None | Some(Value::Null)) => Ordering::Less,
        (Some(Value::String(x)), Some(Value::String(y))) if rank(va).is_none() => x.cmp(y),
        _ => rank(va).partial_cmp(&rank(vb)).unwrap_or(Ordering::Equal),
    }
}

/// Options a caller inside the box (seeding, settings routes) may set on a create.
#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    /// Use this uuid instead of generating one (seed data: the same on every node).
    pub uuid: Option<String>,
    /// Set computed fields too (seeding system formats).
    pub computed: Map<String, Value>,
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
        let generated = generate_display_id(conn, kind, production_id.as_deref())?;
        doc.insert("id".into(), Value::String(generated));
    }
    let uuid = match (&options.uuid, kind.key, kind.natural_key) {
        (Some(uuid), _, _) => uuid.clone(),
        (None, KeyStyle::DisplayId, _) => doc["id"].as_str().unwrap_or_default().to_owned(),
        (None, KeyStyle::Uuid, Some(column)) => match doc.get(column).and_then(Value::as_str) {
            Some(value) => derived_uuid(&[kind.name, value]),
            None => uuid::Uuid::new_v4().to_string(),
        },
        (None, KeyStyle::Uuid, None) => uuid::Uuid::new_v4().to_string(),
    };
    let parent_display = doc
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    normalize_all_children(kind, &mut doc, None, &uuid, &parent_display, &now)?;
    check_required(kind, &doc)?;
    check_unique(conn, kind, production_id.as_deref(), &uuid, &doc)?;

    let inserted = conn
        .prepare_cached(
            "INSERT INTO entities (uuid, kind, production_id, data, version, is_deleted, \
             created_at, updated_at, last_modified_by) VALUES (?1, ?2, ?3, ?4, 1, 0, ?5, ?5, ?6) \
             ON CONFLICT (uuid) DO NOTHING",
        )?
        .execute(params![
            uuid,
            kind.name,
            production_id,
            codec::json_text(&doc),
            now,
            decoded.actor,
        ])?;
    if inserted == 0 {
        return Err(StoreError::Duplicate(format!(
            "{} \"{}\" already exists",
            kind.label,
            doc.get("id").and_then(Value::as_str).unwrap_or(&uuid)
        )));
    }
    let entity = Entity {
        kind: kind.name,
        uuid,
        production_id,
        data: doc,
        version: 1,
        is_deleted: false,
        created_at: now.clone(),
        updated_at: now,
        last_modified_by: decoded.actor.clone(),
        synced_at: None,
    };
    let changed = entity.data.clone();
    let actor = Actor {
        id: decoded.actor,
        name: decoded.actor_name,
    };
    replica::record_local(tx, LocalChange::Create { entity: &entity })?;
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

/// Removes a row for good (a hard delete, local or pulled). Deleting a show removes
/// everything that belongs to it (contract §2.4).
pub fn remove_row(conn: &Connection, kind: &KindDef, existing: &Entity) -> Result<()> {
    if kind.is_production {
        conn.prepare_cached("DELETE FROM entities WHERE production_id = ?1")?
            .execute([&existing.uuid])?;
        conn.prepare_cached(
            "DELETE FROM meta WHERE key LIKE 'display_seq' || char(31) || '%' \
             AND substr(key, -length(?1) - 1) = char(31) || ?1",
        )?
        .execute([&existing.uuid])?;
        conn.prepare_cached("DELETE FROM sync_holdings WHERE production_id = ?1")?
            .execute([&existing.uuid])?;
    }
    conn.prepare_cached("DELETE FROM entities WHERE uuid = ?1")?
        .execute([&existing.uuid])?;
    Ok(())
}

/// Publishes a change once the transaction commits (local writes here, pulled ones in `sync`).
pub(crate) fn record(
    tx: &mut WriteTx<'_>,
    kind: &KindDef,
    entity: &Entity,
    operation: Operation,
    changed: Map<String, Value>,
    actor: Actor,
) -> Result<()> {
    let wire = render(tx.conn(), kind, entity)?;
    tx.emit(ChangeEvent {
        kind: kind.name,
        operation,
        uuid: entity.uuid.clone(),
        display_id: entity.display_id().map(str::to_owned),
        production_id: entity.production_id.clone(),
        entity: wire,
        changed,
        actor,
    });
    Ok(())
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

/// The next `<PREFIX> <n>` for a kind in a production. The counter lives in `meta` so a
/// create costs one row update, not a count of the whole production; it starts from the
/// rows already there the first time a kind needs one.
fn generate_display_id(
    conn: &Connection,
    kind: &KindDef,
    production_id: Option<&str>,
) -> Result<String> {
    let counter = display_counter_key(kind, production_id);
    let current: Option<i64> = conn
        .prepare_cached("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1")?
        .query_row([&counter], |row| row.get(0))
        .optional()?;
    let next = match current {
        Some(n) => n + 1,
        None => {
            let existing: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM entities WHERE kind = ?1 AND production_id IS ?2",
                )?
                .query_row(params![kind.name, production_id], |row| row.get(0))?;
            existing + 1
        }
    };
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![counter, next.to_string()])?;
    Ok(format!("{} {}", kind.display_prefix, next))
}

/// Keeps this node's display-id counter past a label another node gave out (`SRC 7` pulled
/// here means the next one made here is at least `SRC 8`), so two boxes in contact never
/// hand out the same label; apart they can, and the hub renumbers the later arrival.
pub(crate) fn note_display_id(
    conn: &Connection,
    kind: &KindDef,
    production_id: Option<&str>,
    data: &Map<String, Value>,
) -> Result<()> {
    let Some(number) = data
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| id.strip_prefix(kind.display_prefix))
        .and_then(|rest| rest.strip_prefix(' '))
        .and_then(|n| n.parse::<i64>().ok())
    else {
        return Ok(());
    };
    let counter = display_counter_key(kind, production_id);
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET \
         value = max(CAST(meta.value AS INTEGER), CAST(excluded.value AS INTEGER))",
    )?
    .execute(params![counter, number.to_string()])?;
    Ok(())
}

fn display_counter_key(kind: &KindDef, production_id: Option<&str>) -> String {
    format!(
        "display_seq\u{1f}{}\u{1f}{}",
        kind.name,
        production_id.unwrap_or("")
    )
}

/// A row as the hub sent it, to insert here.
pub(crate) struct PulledRow<'a> {
    pub uuid: &'a str,
    pub production_id: Option<&'a str>,
    pub data: &'a Map<String, Value>,
    pub is_deleted: bool,
    pub clocks: &'a Map<String, Value>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub actor: Option<&'a str>,
}

/// Inserts a row pulled from the hub (version 1, the hub's clocks) and returns it.
pub(crate) fn insert_pulled(
    conn: &Connection,
    kind: &'static KindDef,
    row: PulledRow<'_>,
) -> Result<Entity> {
    conn.prepare_cached(
        "INSERT INTO entities (uuid, kind, production_id, data, version, is_deleted, \
         created_at, updated_at, last_modified_by, clocks) \
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        row.uuid,
        kind.name,
        row.production_id,
        codec::json_text(row.data),
        row.is_deleted,
        row.created_at,
        row.updated_at,
        row.actor,
        codec::json_text(row.clocks),
    ])?;
    note_display_id(conn, kind, row.production_id, row.data)?;
    Ok(Entity {
        kind: kind.name,
        uuid: row.uuid.to_owned(),
        production_id: row.production_id.map(str::to_owned),
        data: row.data.clone(),
        version: 1,
        is_deleted: row.is_deleted,
        created_at: row.created_at.to_owned(),
        updated_at: row.updated_at.to_owned(),
        last_modified_by: row.actor.map(str::to_owned),
        synced_at: None,
    })
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
            (None, None) => uuid::Uuid::new_v4().to_string(),
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

/// Live rows of a kind whose `column` (any of `columns`) equals `value`, in the kind's order.
pub fn list_by_field(
    conn: &Connection,
    kind: &KindDef,
    columns: &[&str],
    value: &str,
) -> Result<Vec<Value>> {
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for column in columns {
        let sql = format!(
            "SELECT {COLUMNS} FROM entities WHERE kind = ?1 AND is_deleted = 0 \
             AND json_extract(data, '$.' || ?2) = ?3 ORDER BY created_at, rowid"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        for row in stmt.query_map(params![kind.name, column, value], row_to_entity)? {
            let row = row?;
            if seen.insert(row.uuid.clone()) {
                rows.push(row);
            }
        }
    }
    sort_entities(kind, &mut rows);
    render_rows(conn, kind, &rows)
}
