//! Display ids (`SRC 7`): the label a row gets when a create names none, numbered per kind and
//! production, never handed out twice by this box.
//!
//! The counters live in the writer's memory, not in a row updated by every create (issue #17:
//! that row was one of the ~8 WAL pages a lone create appended). What a restart needs is kept
//! where the writes already put it: every label given out is in its row, so a counter starts
//! from the highest label among the rows of its kind and production (soft-deleted ones
//! included); the few ways a label can leave the table without its number leaving use (a hard
//! delete, a download removing rows the hub deleted) and the labels other nodes gave out
//! (pulled, downloaded) raise a floor kept in `meta`. A counter is therefore
//! max(floor, highest label in the rows, every label seen since) + 1. A write that rolls back
//! after taking a number leaves a gap, never a duplicate.
use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use crate::error::Result;
use crate::registry::KindDef;

/// The writer thread's counters, by (kind, production): the highest number given out or seen.
#[derive(Default)]
pub struct DisplayCounters(RefCell<HashMap<String, i64>>);

impl DisplayCounters {
    /// The next label of `kind` in `production_id`.
    pub(crate) fn next(
        &self,
        conn: &Connection,
        kind: &KindDef,
        production_id: Option<&str>,
    ) -> Result<String> {
        let key = counter_key(kind, production_id);
        let mut counters = self.0.borrow_mut();
        let highest = match counters.get(&key) {
            Some(&n) => n,
            None => highest_persisted(conn, &key, kind, production_id)?,
        };
        counters.insert(key, highest + 1);
        Ok(format!("{} {}", kind.display_prefix, highest + 1))
    }

    /// Keeps the counter past a label written without it (given by the client, imported).
    /// Only in memory: the label is in its row, where a restart finds it.
    pub(crate) fn saw(
        &self,
        kind: &KindDef,
        production_id: Option<&str>,
        data: &Map<String, Value>,
    ) {
        if let Some(number) = label_number_of(kind, data) {
            self.raise(kind, production_id, number);
        }
    }

    /// Raises a counter already in memory (one not yet read will read the new state).
    fn raise(&self, kind: &KindDef, production_id: Option<&str>, number: i64) {
        if let Some(highest) = self
            .0
            .borrow_mut()
            .get_mut(&counter_key(kind, production_id))
        {
            *highest = (*highest).max(number);
        }
    }
}

/// The highest number of (`kind`, `production_id`) a restart can know of: the floor in `meta`
/// and the labels in the rows (read once per counter and process, through the index by
/// production; a global kind's rows have no production).
fn highest_persisted(
    conn: &Connection,
    key: &str,
    kind: &KindDef,
    production_id: Option<&str>,
) -> Result<i64> {
    let floor: Option<i64> = conn
        .prepare_cached("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?;
    let mut stmt = match production_id {
        Some(_) => conn.prepare_cached(
            "SELECT data ->> '$.id' FROM entities WHERE production_id = ?2 AND kind = ?1",
        )?,
        None => conn.prepare_cached(
            "SELECT data ->> '$.id' FROM entities WHERE production_id IS NULL AND kind = ?1 \
             AND ?2 IS NULL",
        )?,
    };
    let mut rows = stmt.query(params![kind.name, production_id])?;
    let mut highest = floor.unwrap_or(0);
    while let Some(row) = rows.next()? {
        if let ValueRef::Text(label) = row.get_ref(0)?
            && let Some(number) = std::str::from_utf8(label)
                .ok()
                .and_then(|label| display_number(kind, label))
        {
            highest = highest.max(number);
        }
    }
    Ok(highest)
}

/// A label given out without the writer's counters (seeding, before the writer runs): the
/// floor is read and raised in `meta`, as it must be for a write no counter in memory sees.
pub(crate) fn next_detached(
    conn: &Connection,
    kind: &KindDef,
    production_id: Option<&str>,
) -> Result<String> {
    let key = counter_key(kind, production_id);
    let next = highest_persisted(conn, &key, kind, production_id)? + 1;
    raise_floor(conn, kind, production_id, next)?;
    Ok(format!("{} {}", kind.display_prefix, next))
}

/// Keeps this node's counter past a label another node gave out (`SRC 7` pulled here means
/// the next one made here is at least `SRC 8`), so two boxes in contact never hand out the
/// same label; apart they can, and the hub renumbers the later arrival. Also what a row that
/// leaves the table for good records, so its number is not given out again after a restart.
pub(crate) fn note(
    conn: &Connection,
    counters: Option<&DisplayCounters>,
    kind: &KindDef,
    production_id: Option<&str>,
    data: &Map<String, Value>,
) -> Result<()> {
    match label_number_of(kind, data) {
        Some(number) => note_number(conn, counters, kind, production_id, number),
        None => Ok(()),
    }
}

/// [`note`] for a number already parsed.
pub(crate) fn note_number(
    conn: &Connection,
    counters: Option<&DisplayCounters>,
    kind: &KindDef,
    production_id: Option<&str>,
    number: i64,
) -> Result<()> {
    if let Some(counters) = counters {
        counters.raise(kind, production_id, number);
    }
    raise_floor(conn, kind, production_id, number)
}

fn raise_floor(
    conn: &Connection,
    kind: &KindDef,
    production_id: Option<&str>,
    number: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET \
         value = max(CAST(meta.value AS INTEGER), CAST(excluded.value AS INTEGER))",
    )?
    .execute(params![
        counter_key(kind, production_id),
        number.to_string()
    ])?;
    Ok(())
}

/// Forgets the floors of a production deleted for good (its counters in memory may stay: a
/// counter ahead only skips numbers).
pub(crate) fn forget_production(conn: &Connection, production_id: &str) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM meta WHERE key LIKE 'display_seq' || char(31) || '%' \
         AND substr(key, -length(?1) - 1) = char(31) || ?1",
    )?
    .execute([production_id])?;
    Ok(())
}

fn label_number_of(kind: &KindDef, data: &Map<String, Value>) -> Option<i64> {
    data.get("id")
        .and_then(Value::as_str)
        .and_then(|label| display_number(kind, label))
}

/// The number of a generated label of `kind` (`7` of `SRC 7`).
pub(crate) fn display_number(kind: &KindDef, label: &str) -> Option<i64> {
    label
        .strip_prefix(kind.display_prefix)?
        .strip_prefix(' ')?
        .parse::<i64>()
        .ok()
}

fn counter_key(kind: &KindDef, production_id: Option<&str>) -> String {
    format!(
        "display_seq\u{1f}{}\u{1f}{}",
        kind.name,
        production_id.unwrap_or("")
    )
}
