//! Rows of `entities` as storage: reading one or many by key, the production check, inserting
//! a row another node made, removing one, and the display-id counters. No validation and no
//! wire form here (see `entities` and `read`).
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use crate::codec;
use crate::error::{Result, StoreError};
use crate::kinds::registry;
use crate::labels;
use crate::model::{Entity, Row, StoredRow};
use crate::registry::{KindDef, Scope};

pub(crate) const COLUMNS: &str = "uuid, kind, production_id, data, version, is_deleted, created_at, \
                       updated_at, last_modified_by, synced_at";

pub(crate) fn row_to_entity(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entity> {
    read_row(row, |text| match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    })
}

pub(crate) fn row_to_stored(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRow> {
    read_row(row, |text| Some(text.to_owned()))
}

pub(crate) fn read_row<D>(
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
pub(crate) fn load_as<D>(
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

pub(crate) fn load_live(conn: &Connection, kind: &KindDef, uuid: &str) -> Result<Entity> {
    load_live_as(conn, kind, uuid, row_to_entity)
}

pub(crate) fn load_live_as<D>(
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
        .prepare_cached("SELECT is_deleted FROM entities WHERE kind = ?1 AND uuid = ?2")?
        .query_row(
            params![registry().production().name, production_id],
            |row| row.get(0),
        )
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

pub fn list_entities(
    conn: &Connection,
    kind: &KindDef,
    production_id: Option<&str>,
    deleted: bool,
) -> Result<Vec<Entity>> {
    query_rows(conn, kind, production_id, deleted, row_to_entity)
}

/// The rows of a global kind (`?1`), live or deleted (`?2`). A global kind's rows have no
/// production, and saying so lets the query take `entities_by_production` (migration V8
/// dropped the index by kind alone).
pub(crate) fn global_rows_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM entities WHERE production_id IS NULL AND kind = ?1 \
         AND is_deleted = ?2 ORDER BY created_at, rowid"
    )
}

/// Rows of a kind (of one production, or of a global kind), live or deleted, oldest first.
pub(crate) fn query_rows<D>(
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
        debug_assert!(
            kind.scope == Scope::Global,
            "{} is listed per production",
            kind.name
        );
        let mut stmt = conn.prepare_cached(&global_rows_sql())?;
        let rows = stmt.query_map(params![kind.name, deleted], read)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Removes a row for good (a hard delete, local or pulled). Deleting a show removes
/// everything that belongs to it (docs/contract.md §2.4).
pub fn remove_row(conn: &Connection, kind: &KindDef, existing: &Entity) -> Result<()> {
    if kind.is_production {
        conn.prepare_cached("DELETE FROM entities WHERE production_id = ?1")?
            .execute([&existing.uuid])?;
        labels::forget_production(conn, &existing.uuid)?;
        conn.prepare_cached("DELETE FROM sync_holdings WHERE production_id = ?1")?
            .execute([&existing.uuid])?;
    }
    conn.prepare_cached("DELETE FROM entities WHERE uuid = ?1")?
        .execute([&existing.uuid])?;
    if !kind.is_production {
        // The label leaves with the row: keep its number from being given out again.
        labels::note(
            conn,
            None,
            kind,
            existing.production_id.as_deref(),
            &existing.data,
        )?;
    }
    Ok(())
}

/// A new row: version 1, with these clocks.
pub(crate) struct NewRow<'a> {
    pub kind: &'a KindDef,
    pub uuid: &'a str,
    pub production_id: Option<&'a str>,
    pub data: &'a Map<String, Value>,
    pub is_deleted: bool,
    pub clocks: &'a Map<String, Value>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub actor: Option<&'a str>,
}

impl NewRow<'_> {
    pub(crate) fn to_entity(&self) -> Entity {
        Entity {
            kind: self.kind.name,
            uuid: self.uuid.to_owned(),
            production_id: self.production_id.map(str::to_owned),
            data: self.data.clone(),
            version: 1,
            is_deleted: self.is_deleted,
            created_at: self.created_at.to_owned(),
            updated_at: self.updated_at.to_owned(),
            last_modified_by: self.actor.map(str::to_owned),
            synced_at: None,
        }
    }
}

/// What [`insert_row`] does when the uuid is taken.
pub(crate) enum IfTaken {
    /// Leave the row as it is and answer `false`.
    Keep,
    /// Take the new data, flag and clocks (a download's install); the version counts up, and
    /// `updated_at` moves, only when the data or the flag changed.
    Replace,
}

/// The one writer of new rows in `entities`. Answers whether the row is now the one given.
pub(crate) fn insert_row(conn: &Connection, row: &NewRow<'_>, if_taken: IfTaken) -> Result<bool> {
    macro_rules! insert {
        () => {
            "INSERT INTO entities (uuid, kind, production_id, data, version, is_deleted, \
             created_at, updated_at, last_modified_by, clocks) \
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (uuid) "
        };
    }
    let sql = match if_taken {
        IfTaken::Keep => concat!(insert!(), "DO NOTHING"),
        IfTaken::Replace => concat!(
            insert!(),
            "DO UPDATE SET data = excluded.data, is_deleted = excluded.is_deleted, \
             clocks = excluded.clocks, \
             version = CASE WHEN entities.data = excluded.data \
               AND entities.is_deleted = excluded.is_deleted THEN entities.version \
               ELSE entities.version + 1 END, \
             updated_at = CASE WHEN entities.data = excluded.data THEN entities.updated_at \
               ELSE excluded.updated_at END"
        ),
    };
    let written = conn.prepare_cached(sql)?.execute(params![
        row.uuid,
        row.kind.name,
        row.production_id,
        codec::json_text(row.data),
        row.is_deleted,
        row.created_at,
        row.updated_at,
        row.actor,
        codec::json_text(row.clocks),
    ])?;
    Ok(written > 0)
}
