//! The hidden `venuebox` sheet an export writes: the workbook's production and export id, and
//! per exported row its uuid, version and cell fingerprints (the *E* of the three-way
//! comparison); and the rows earlier imports of the same export created.
use std::collections::HashMap;

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::{Cell, CellProblem, FORMAT, META_SHEET, Sheet, fingerprint};
use crate::error::Result;

/// What the hidden sheet records.
#[derive(Default)]
pub(super) struct ExportRecord {
    /// The export the workbook came from (`exportId`).
    pub export_id: String,
    /// Each exported row by (sheet, uuid).
    pub bases: HashMap<(String, String), Base>,
    /// Each sheet's exported uuids, in the export's order.
    pub exported: HashMap<String, Vec<String>>,
    pub remembered: Vec<Remembered>,
}

/// A row as the export wrote it.
pub(super) struct Base {
    pub prints: Map<String, Value>,
}

impl Base {
    pub fn print(&self, column: &str) -> String {
        match self.prints.get(column).and_then(Value::as_str) {
            Some(print) => print.to_owned(),
            // A column the row did not have: it was empty.
            None => fingerprint(&Value::Null),
        }
    }
}

/// A row an earlier import of the same export created.
pub(super) struct Remembered {
    pub sheet: String,
    pub row: usize,
    pub uuid: String,
    pub prints: String,
    /// A row of this import is that row.
    pub matched: bool,
}

/// Reads the hidden sheet: which production and export the workbook is, each exported row's
/// fingerprints, and the rows earlier imports of the same export created.
pub(super) fn read(
    conn: &Connection,
    meta: &Sheet,
    production_id: &str,
) -> Result<ExportRecord, Vec<CellProblem>> {
    let mut record = ExportRecord::default();
    let mut problems = Vec::new();
    let mut problem = |row: Option<usize>, message: String| {
        problems.push(CellProblem {
            sheet: META_SHEET.into(),
            row,
            column: None,
            cell: None,
            message,
        })
    };
    {
        let text = |row: usize, col: usize| match meta.cell(row, col) {
            Cell::Text(t) => t.clone(),
            Cell::Number(n) => n.to_string(),
            _ => String::new(),
        };
        if text(0, 1) != FORMAT {
            problem(
                Some(1),
                format!("not a workbook this box reads (its format is not \"{FORMAT}\")"),
            );
            return Err(problems);
        }
        let exported_from = text(0, 3);
        if exported_from != production_id {
            problem(
                Some(1),
                format!(
                    "this workbook is an export of production {exported_from}, not of {}",
                    production_id
                ),
            );
            return Err(problems);
        }
        record.export_id = text(0, 7);
        match remembered(conn, &record.export_id) {
            Ok(rows) => record.remembered = rows,
            Err(err) => problem(None, err.to_string()),
        }
        for row in 2..meta.rows.len() {
            let (sheet, uuid) = (text(row, 0), text(row, 1));
            if sheet.is_empty() || uuid.is_empty() {
                continue;
            }
            let prints = match meta.cell(row, 3) {
                Cell::Text(t) => serde_json::from_str::<Map<String, Value>>(t).ok(),
                _ => None,
            };
            let Some(prints) = prints else {
                problem(
                    Some(row + 1),
                    "the export's record of this row is damaged".into(),
                );
                continue;
            };
            record
                .exported
                .entry(sheet.clone())
                .or_default()
                .push(uuid.clone());
            record.bases.insert((sheet, uuid), Base { prints });
        }
    }
    if problems.is_empty() {
        Ok(record)
    } else {
        Err(problems)
    }
}

/// The rows earlier imports of export `export_id` created.
fn remembered(conn: &Connection, export_id: &str) -> Result<Vec<Remembered>> {
    let mut stmt = conn.prepare_cached(
        "SELECT sheet, sheet_row, uuid, prints FROM workbook_imports WHERE export_id = ?1 \
         ORDER BY sheet, sheet_row",
    )?;
    let rows = stmt.query_map([export_id], |row| {
        Ok(Remembered {
            sheet: row.get(0)?,
            row: row.get::<_, i64>(1)? as usize,
            uuid: row.get(2)?,
            prints: row.get(3)?,
            matched: false,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
