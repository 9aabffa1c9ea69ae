//! Rows as the wire shows them: lists in a kind's order, single rows, embedded related rows,
//! and the JSON bytes REST answers with; and [`record`], which publishes a committed change
//! with the row's wire form.
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use crate::codec::{Document, StoredDoc, StoredWireRow, WireRow};
use crate::error::{Result, StoreError};
use crate::kinds::registry;
use crate::model::{Actor, ChangeEvent, Entity, Operation, StoredRow};
use crate::registry::{Direction, FieldType, KindDef};
use crate::rows::{
    COLUMNS, list_entities, load, load_live, load_live_as, query_rows, require_production,
    row_to_entity, row_to_stored,
};
use crate::writer::WriteTx;

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

/// The same list as [`list`], serialized whole: what the REST API sends for a list of one
/// page (longer ones go a page at a time, [`RowPlan`]). Rows are written
/// from their stored text (see [`codec::StoredWireRow`]) unless the kind has its own encoder.
pub(crate) fn list_json(
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
    // Sized once for the whole answer (about 1.5 KiB a row for the busiest kinds): growing a
    // 50 KiB buffer by doubling copied it seven times.
    let mut out = Vec::with_capacity(512 + rows.len() * 1536);
    out.push(b'[');
    append_rows(conn, kind, rows, &mut out, true)?;
    out.push(b']');
    Ok(out)
}

/// Appends rows in wire form to `out`, separated by commas (and preceded by one unless
/// `first`): the inside of a JSON array, built a page at a time by [`RowPlan`].
fn append_rows<R: WireForm>(
    conn: &Connection,
    kind: &KindDef,
    rows: &[R],
    out: &mut Vec<u8>,
    mut first: bool,
) -> Result<()> {
    // Embeds share one cache (fifty ports on one device load the device once).
    let mut cache = HashMap::new();
    for row in rows {
        let embeds = row.embeds(conn, kind, &mut cache)?;
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut *out, &row.wire(kind, &embeds))
            .map_err(|err| StoreError::Internal(err.to_string()))?;
    }
    Ok(())
}

/// The rows a long answer holds, in the kind's order, fixed by one read: their row ids only
/// (a few bytes a row, whatever the documents weigh). Their documents are read and written a
/// page at a time by [`RowPlan::write_page`], each page in its own read, so an answer never
/// holds more than a page of rows in memory nor a read transaction while its client is slow
/// (`crate::pages`).
pub(crate) struct RowPlan {
    kind: &'static KindDef,
    production_id: Option<String>,
    deleted: bool,
    rowids: Vec<i64>,
    next: usize,
}

impl RowPlan {
    /// Which rows, and in which order: the same rows and order [`list`] gives.
    pub(crate) fn new(
        conn: &Connection,
        kind: &'static KindDef,
        production_id: Option<&str>,
        deleted: bool,
    ) -> Result<Self> {
        if let Some(production_id) = production_id {
            require_production(conn, production_id)?;
        }
        // The sort keys come from SQL (`json_extract` yields the same text, number or null the
        // document holds, a boolean as 0/1, which `compare_values` ranks alike).
        let keys: String = kind
            .order
            .iter()
            .map(|(column, _)| match *column {
                "created_at" => ", created_at".to_owned(),
                column => format!(", json_extract(data, '$.{column}')"),
            })
            .collect();
        let sql = format!(
            "SELECT rowid{keys} FROM entities WHERE {} AND kind = ?2 AND is_deleted = ?3 \
             ORDER BY created_at, rowid",
            production_filter(production_id)
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt
            .query_map(params![production_id, kind.name, deleted], |row| {
                let keys = (1..=kind.order.len())
                    .map(|i| sql_to_json(row.get_ref(i)?))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((row.get::<_, i64>(0)?, keys))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        sort_by_order(kind, &mut rows, |(_, keys), column| {
            let at = kind.order.iter().position(|(c, _)| *c == column);
            at.and_then(|at| keys.get(at))
                .cloned()
                .unwrap_or(Value::Null)
        });
        Ok(RowPlan {
            kind,
            production_id: production_id.map(str::to_owned),
            deleted,
            rowids: rows.into_iter().map(|(rowid, _)| rowid).collect(),
            next: 0,
        })
    }

    /// How many rows [`RowPlan::new`] would plan (an index-only count): a list of one page
    /// is read whole instead, by [`list_json`] (one scan, where a plan costs a lookup a row).
    pub(crate) fn count(
        conn: &Connection,
        kind: &KindDef,
        production_id: Option<&str>,
        deleted: bool,
    ) -> Result<usize> {
        let sql = format!(
            "SELECT count(*) FROM entities WHERE {} AND kind = ?2 AND is_deleted = ?3",
            production_filter(production_id)
        );
        let count: i64 = conn
            .prepare_cached(&sql)?
            .query_row(params![production_id, kind.name, deleted], |row| row.get(0))?;
        Ok(count as usize)
    }

    /// Every row has been written.
    pub(crate) fn done(&self) -> bool {
        self.next >= self.rowids.len()
    }

    /// Appends the next page of up to `page` rows (comma-separated, as [`append_rows`]),
    /// each as it is now; a row deleted (or moved to another production) since the plan was
    /// made is left out.
    pub(crate) fn write_page(
        &mut self,
        conn: &Connection,
        page: usize,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let first = self.next == 0;
        let end = (self.next + page).min(self.rowids.len());
        let ids = &self.rowids[self.next..end];
        if self.kind.encode.is_some() {
            let rows = self.fetch(conn, ids, row_to_entity)?;
            append_rows(conn, self.kind, &rows, out, first)?;
        } else {
            let rows = self.fetch(conn, ids, row_to_stored)?;
            append_rows(conn, self.kind, &rows, out, first)?;
        }
        self.next = end;
        Ok(())
    }

    fn fetch<D>(
        &self,
        conn: &Connection,
        ids: &[i64],
        read: fn(&rusqlite::Row<'_>) -> rusqlite::Result<crate::model::Row<D>>,
    ) -> Result<Vec<crate::model::Row<D>>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM entities WHERE rowid = ?4 AND {} AND kind = ?2 \
             AND is_deleted = ?3",
            production_filter(self.production_id.as_deref())
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = Vec::with_capacity(ids.len());
        for rowid in ids {
            let row = stmt
                .query_row(
                    params![self.production_id, self.kind.name, self.deleted, rowid],
                    read,
                )
                .optional()?;
            rows.extend(row);
        }
        Ok(rows)
    }
}

/// The rows of one production (`?1`), or the rows of a global kind, which have none (`?1` is
/// then bound to NULL and not read). Both take `entities_by_production` (migration V8).
pub(crate) fn production_filter(production_id: Option<&str>) -> &'static str {
    match production_id {
        Some(_) => "production_id = ?1",
        None => "production_id IS NULL",
    }
}

fn sql_to_json(value: rusqlite::types::ValueRef<'_>) -> rusqlite::Result<Value> {
    use rusqlite::types::ValueRef;
    Ok(match value {
        ValueRef::Null | ValueRef::Blob(_) => Value::Null,
        ValueRef::Integer(n) => Value::from(n),
        ValueRef::Real(x) => Value::from(x),
        ValueRef::Text(_) => Value::String(value.as_str()?.to_owned()),
    })
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

/// A write's answer: the wire form its realtime event already carries, cloned, rather than a
/// second render (and a second read of its embedded rows); rendered only if no event for the
/// row was emitted.
pub(crate) fn answer(tx: &WriteTx<'_>, kind: &KindDef, entity: &Entity) -> Result<Value> {
    match tx.last_rendered(&entity.uuid) {
        Some(wire) => Ok(wire.clone()),
        None => render(tx.conn(), kind, entity),
    }
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

/// The statement of [`list_by_field`]. The kind is written into it, not bound: SQLite takes a
/// partial index (`entities_linked_by_kind`, migration V8: ports and cables) only when the
/// query names a kind the index covers. Kind names are the registry's identifiers.
pub(crate) fn list_by_field_sql(kind: &KindDef) -> String {
    assert!(
        kind.name.chars().all(|c| c.is_ascii_alphanumeric()),
        "kind names are identifiers"
    );
    format!(
        "SELECT {COLUMNS} FROM entities WHERE kind = '{}' AND is_deleted = 0 \
         AND json_extract(data, '$.' || ?1) = ?2 ORDER BY created_at, rowid",
        kind.name
    )
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
    let sql = list_by_field_sql(kind);
    for column in columns {
        let mut stmt = conn.prepare_cached(&sql)?;
        for row in stmt.query_map(params![column, value], row_to_entity)? {
            let row = row?;
            if seen.insert(row.uuid.clone()) {
                rows.push(row);
            }
        }
    }
    sort_entities(kind, &mut rows);
    render_rows(conn, kind, &rows)
}
