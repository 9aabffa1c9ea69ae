//! What an edited workbook changes, decided cell by cell against the export it came from and
//! the box as it is now. Nothing here writes; [`super::apply`] runs the plan.
//!
//! Per cell of a row the export knew (fingerprints: `E` at export, `S` in the sheet, `B` on
//! the box now):
//! * `S = E`: the sheet left it alone; whatever the box holds stays.
//! * `S ≠ E`, `B = E`: the sheet changed it; the change is applied.
//! * `S ≠ E`, `B = S`: both made the same change; nothing to do.
//! * `S ≠ E`, `B ≠ E`, `B ≠ S`: both changed it apart: a conflict ([`OnConflict`]).
//!
//! A row the sheet edited that the box deleted since is a conflict too; so is a row missing
//! from the sheet (`--delete-missing`) that the box changed since the export — the same rule
//! as sync's: a delete never silently wins over an edit it had not seen.
use std::collections::{HashMap, HashSet};

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::meta::{self, ExportRecord};
use super::report::{
    FieldChange, ImportReport, KindReport, OnConflict, Options, RowChange, SheetConflict,
    outcome_text,
};
use super::{
    Cell, CellProblem, META_SHEET, PRODUCTION_SHEET, Sheet, cell_fingerprint, cell_value,
    column_letters, editable_field, export_cell, is_cut, sheet_columns,
};
use crate::codec;
use crate::error::{Result, StoreError};
use crate::kinds::registry;
use crate::read;
use crate::registry::{KeyStyle, KindDef, Scope};
use crate::rows;

mod deletes;

/// Where a planned write came from, to name it if the write is refused.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub sheet: String,
    pub row: Option<usize>,
    /// Each column's header and cell address, for errors naming a field.
    pub cells: Vec<(String, String)>,
}

impl Origin {
    /// The problem a refused write of this row is, on the cell of the field it names.
    pub fn problem(&self, err: &StoreError) -> CellProblem {
        let field = match err {
            StoreError::InvalidField { field, .. }
            | StoreError::UnknownField { field, .. }
            | StoreError::MissingField { field } => Some(field.as_str()),
            _ => None,
        };
        let column = field.map(|f| f.split(['[', '.']).next().unwrap_or(f));
        let cell = column.and_then(|c| self.cells.iter().find(|(name, _)| name == c));
        CellProblem {
            sheet: self.sheet.clone(),
            row: self.row,
            column: column.map(str::to_owned),
            cell: cell.map(|(_, address)| address.clone()),
            message: err.to_string(),
        }
    }
}

/// A write the import makes, in order.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Create {
        kind: &'static KindDef,
        uuid: Option<String>,
        body: Map<String, Value>,
        origin: Origin,
        /// Index into the report's sheets and that sheet's `created`, to fill in the row's new
        /// uuid and id.
        report_at: (usize, usize),
        /// What to remember of a row the sheet added (its row and cell fingerprints), so that
        /// importing the workbook again does not add it twice.
        remember: Option<(usize, String)>,
    },
    Update {
        kind: &'static KindDef,
        key: String,
        version: i64,
        body: Map<String, Value>,
        /// Bring back a soft-deleted row (the sheet's edit was taken over the box's delete).
        restore: bool,
        origin: Origin,
    },
    Delete {
        kind: &'static KindDef,
        key: String,
        origin: Origin,
    },
}

/// A row the sheet changed: every cell of it, and the changed ones (with their fingerprint in
/// the sheet, at the export, and their value).
struct Edited<'r, 's> {
    slots: &'r [Slot<'s>],
    cells: &'r [(&'r Slot<'s>, String, String, Value)],
}

/// One cell of a row, with its header and address.
struct Slot<'s> {
    column: &'s str,
    address: String,
    cell: &'s Cell,
}

struct Planner<'a> {
    conn: &'a Connection,
    production_id: &'a str,
    options: &'a Options,
    export: ExportRecord,
    problems: Vec<CellProblem>,
    report: ImportReport,
    ops: Vec<Op>,
    deletes: Vec<Op>,
}

/// Plans the import of `sheets` into production `production_id`: the report, and the writes
/// to make. A workbook with any problem is refused whole ([`StoreError::Workbook`]).
pub(crate) fn plan(
    conn: &Connection,
    production_id: &str,
    sheets: &[Sheet],
    options: &Options,
) -> Result<(ImportReport, Vec<Op>)> {
    read::get(conn, registry().production(), production_id)?;
    let mut planner = Planner {
        conn,
        production_id,
        options,
        export: ExportRecord::default(),
        problems: Vec::new(),
        report: ImportReport {
            production_id: production_id.to_owned(),
            dry_run: options.dry_run,
            on_conflict: options.on_conflict,
            ..ImportReport::default()
        },
        ops: Vec::new(),
        deletes: Vec::new(),
    };
    match sheets.iter().find(|s| s.name == META_SHEET) {
        Some(meta) => match meta::read(conn, meta, production_id) {
            Ok(export) => planner.export = export,
            Err(problems) => planner.problems = problems,
        },
        None => planner.problems.push(CellProblem {
            sheet: META_SHEET.into(),
            row: None,
            column: None,
            cell: None,
            message: format!(
                "the workbook has no hidden \"{META_SHEET}\" sheet: only a workbook exported by \
                 a box (GET /api/productions/<id>/export?format=xlsx) can be imported; \
                 export the production, fill that workbook in"
            ),
        }),
    }
    if planner.problems.is_empty() {
        // The production's own fields first, then each kind's sheet in the workbook's order.
        if let Some(sheet) = sheets.iter().find(|s| s.name == PRODUCTION_SHEET) {
            planner.production_sheet(sheet);
        }
        for sheet in sheets {
            if sheet.name == META_SHEET || sheet.name == PRODUCTION_SHEET {
                continue;
            }
            match registry()
                .production_kinds()
                .find(|k| k.family == sheet.name)
            {
                Some(kind) => planner.kind_sheet(kind, sheet),
                None => planner.problems.push(CellProblem {
                    sheet: sheet.name.clone(),
                    row: None,
                    column: None,
                    cell: None,
                    message: format!(
                        "unknown sheet \"{}\" (a workbook's sheets are {PRODUCTION_SHEET}, {})",
                        sheet.name,
                        registry()
                            .production_kinds()
                            .map(|k| k.family)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
            }
        }
    }
    if !planner.problems.is_empty() {
        return Err(StoreError::Workbook(planner.problems));
    }
    let Planner {
        mut report,
        mut ops,
        deletes,
        export,
        ..
    } = planner;
    report.export_id = export.export_id;
    ops.extend(deletes);
    report.sheets.retain(|s| !s.is_empty());
    // Report indexes of creates point into the unfiltered list; recompute them.
    let mut created_at = Vec::new();
    for (sheet_index, sheet) in report.sheets.iter().enumerate() {
        for row_index in 0..sheet.created.len() {
            created_at.push((sheet_index, row_index));
        }
    }
    let mut next = created_at.into_iter();
    for op in &mut ops {
        match op {
            Op::Create { report_at, .. } => {
                *report_at = next.next().unwrap_or((0, 0));
                report.created += 1;
            }
            Op::Update { .. } => report.updated += 1,
            Op::Delete { .. } => report.deleted += 1,
        }
    }
    Ok((report, ops))
}

impl Planner<'_> {
    fn problem(
        &mut self,
        sheet: &str,
        row: Option<usize>,
        slot: Option<&Slot<'_>>,
        message: String,
    ) {
        self.problems.push(CellProblem {
            sheet: sheet.to_owned(),
            row,
            column: slot.map(|s| s.column.to_owned()),
            cell: slot.map(|s| s.address.clone()),
            message,
        });
    }

    /// The `field | value` sheet of the production's own row.
    fn production_sheet(&mut self, sheet: &Sheet) {
        let kind = registry().production();
        let mut slots = Vec::new();
        let mut seen = HashSet::new();
        for row in 1..sheet.rows.len() {
            let column = match sheet.cell(row, 0) {
                Cell::Text(t) if !t.trim().is_empty() => t.trim(),
                Cell::Empty => continue,
                _ => {
                    self.problem(
                        &sheet.name,
                        Some(row + 1),
                        None,
                        "column A names a field of the production".into(),
                    );
                    continue;
                }
            };
            if !seen.insert(column.to_owned()) {
                self.problem(
                    &sheet.name,
                    Some(row + 1),
                    None,
                    format!("the field \"{column}\" is listed twice"),
                );
                continue;
            }
            slots.push(Slot {
                column,
                address: format!("B{}", row + 1),
                cell: sheet.cell(row, 1),
            });
        }
        let mut report = KindReport {
            sheet: sheet.name.clone(),
            kind: kind.name.to_owned(),
            ..KindReport::default()
        };
        let key = self.production_id.to_owned();
        if self
            .export
            .bases
            .contains_key(&(sheet.name.clone(), key.clone()))
        {
            self.existing_row(kind, &sheet.name, None, &key, &slots, &mut report);
        }
        self.report.sheets.push(report);
    }

    fn kind_sheet(&mut self, kind: &'static KindDef, sheet: &Sheet) {
        let Some(header) = sheet.rows.first() else {
            return;
        };
        let mut columns: Vec<Option<&str>> = Vec::new();
        let mut known = HashSet::new();
        let mut bad_header = false;
        for (col, cell) in header.iter().enumerate() {
            let name = match cell {
                Cell::Text(t) if !t.trim().is_empty() => t.trim(),
                _ => {
                    let used = sheet
                        .rows
                        .iter()
                        .skip(1)
                        .any(|r| !matches!(r.get(col), None | Some(Cell::Empty)));
                    if used {
                        self.problems.push(CellProblem {
                            sheet: sheet.name.clone(),
                            row: Some(1),
                            column: None,
                            cell: Some(format!("{}1", column_letters(col))),
                            message: "a column with values but no header".into(),
                        });
                        bad_header = true;
                    }
                    columns.push(None);
                    continue;
                }
            };
            if !known_column(kind, name) {
                self.problems.push(CellProblem {
                    sheet: sheet.name.clone(),
                    row: Some(1),
                    column: Some(name.to_owned()),
                    cell: Some(format!("{}1", column_letters(col))),
                    message: format!(
                        "unknown column \"{name}\" ({} columns are {})",
                        kind.label,
                        sheet_columns(kind).join(", ")
                    ),
                });
                bad_header = true;
            } else if !known.insert(name) {
                self.problems.push(CellProblem {
                    sheet: sheet.name.clone(),
                    row: Some(1),
                    column: Some(name.to_owned()),
                    cell: Some(format!("{}1", column_letters(col))),
                    message: format!("the column \"{name}\" appears twice"),
                });
                bad_header = true;
            }
            columns.push(Some(name));
        }
        let uuid_col = columns.iter().position(|c| *c == Some("uuid"));
        if kind.key != KeyStyle::Uuid || uuid_col.is_none() {
            self.problems.push(CellProblem {
                sheet: sheet.name.clone(),
                row: Some(1),
                column: None,
                cell: None,
                message: "the sheet has no uuid column (it tells the rows the export had from \
                          new ones); keep the exported columns"
                    .into(),
            });
            bad_header = true;
        }
        if bad_header {
            return;
        }
        let uuid_col = uuid_col.unwrap_or_default();
        let mut report = KindReport {
            sheet: sheet.name.clone(),
            kind: kind.name.to_owned(),
            ..KindReport::default()
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, row) in sheet.rows.iter().enumerate().skip(1) {
            let row_no = index + 1;
            if row.iter().all(|c| *c == Cell::Empty) {
                continue;
            }
            let slots: Vec<Slot<'_>> = columns
                .iter()
                .enumerate()
                .filter_map(|(col, name)| {
                    name.map(|column| Slot {
                        column,
                        address: format!("{}{row_no}", column_letters(col)),
                        cell: sheet.cell(index, col),
                    })
                })
                .collect();
            let uuid = match sheet.cell(index, uuid_col) {
                Cell::Empty => None,
                Cell::Text(t) if t.trim().is_empty() => None,
                Cell::Text(t) => Some(t.trim().to_owned()),
                _ => {
                    let slot = slots.iter().find(|s| s.column == "uuid");
                    self.problem(
                        &sheet.name,
                        Some(row_no),
                        slot,
                        "a uuid is text; leave it as exported, or empty for a new row".into(),
                    );
                    continue;
                }
            };
            let Some(uuid) = uuid else {
                self.new_row(kind, &sheet.name, row_no, &slots, &mut report);
                continue;
            };
            if let Some(first) = seen.insert(uuid.clone(), row_no) {
                let slot = slots.iter().find(|s| s.column == "uuid");
                self.problem(
                    &sheet.name,
                    Some(row_no),
                    slot,
                    format!(
                        "the uuid {uuid} is on row {first} too: a copied row keeps its \
                         original's uuid; empty the uuid cell of the copy to add it as a new row"
                    ),
                );
                continue;
            }
            if !self
                .export
                .bases
                .contains_key(&(sheet.name.clone(), uuid.clone()))
            {
                let slot = slots.iter().find(|s| s.column == "uuid");
                self.problem(
                    &sheet.name,
                    Some(row_no),
                    slot,
                    format!(
                        "the uuid {uuid} was not in this workbook's export (a row pasted from \
                         another workbook?); empty the uuid cell to add it as a new row"
                    ),
                );
                continue;
            }
            self.existing_row(kind, &sheet.name, Some(row_no), &uuid, &slots, &mut report);
        }
        let exported = self
            .export
            .exported
            .get(&sheet.name)
            .cloned()
            .unwrap_or_default();
        for uuid in exported.into_iter().filter(|u| !seen.contains_key(u)) {
            self.missing_row(kind, &sheet.name, &uuid, &mut report);
        }
        self.report.sheets.push(report);
    }

    /// A row without a uuid: created, from its editable cells (columns the box sets are
    /// ignored: a copied row still carries its original's).
    fn new_row(
        &mut self,
        kind: &'static KindDef,
        sheet: &str,
        row_no: usize,
        slots: &[Slot<'_>],
        report: &mut KindReport,
    ) {
        let mut body = Map::new();
        let mut ok = true;
        for slot in slots {
            let Some(field) = editable_field(kind, slot.column) else {
                continue;
            };
            if is_cut(slot.cell) {
                self.problem(
                    sheet,
                    Some(row_no),
                    Some(slot),
                    "a cut value cannot be imported".into(),
                );
                ok = false;
                continue;
            }
            match cell_value(slot.cell, Some(&field.ty)) {
                Ok(Value::Null) => {}
                Ok(value) => {
                    body.insert(slot.column.to_owned(), value);
                }
                Err(message) => {
                    self.problem(sheet, Some(row_no), Some(slot), message);
                    ok = false;
                }
            }
        }
        if !ok {
            return;
        }
        let prints: Map<String, Value> = slots
            .iter()
            .filter(|slot| editable_field(kind, slot.column).is_some())
            .map(|slot| {
                let (print, _) = cell_fingerprint(kind, slot.column, slot.cell);
                (slot.column.to_owned(), Value::String(print))
            })
            .collect();
        let prints = Value::Object(prints).to_string();
        if let Some(earlier) = self
            .export
            .remembered
            .iter_mut()
            .find(|r| !r.matched && r.sheet == sheet && r.prints == prints)
        {
            earlier.matched = true;
            let note = format!(
                "{sheet} row {row_no}: added by an earlier import of this workbook (as {}); \
                 not added again",
                earlier.uuid
            );
            self.report.notes.push(note);
            return;
        }
        if let Some(earlier) = self
            .export
            .remembered
            .iter()
            .find(|r| !r.matched && r.sheet == sheet && r.row == row_no)
        {
            let note = format!(
                "{sheet} row {row_no}: an earlier import of this workbook added this row (as \
                 {}) and it has changed since, so it is added as a new row; edit rows added in \
                 a sheet in a fresh export",
                earlier.uuid
            );
            self.report.notes.push(note);
        }
        body.insert("productionId".into(), Value::from(self.production_id));
        let origin = origin(sheet, Some(row_no), slots);
        if let Err(err) = self.validate(kind, &body) {
            self.problems.push(origin.problem(&err));
            return;
        }
        report.created.push(RowChange {
            row: Some(row_no),
            id: body.get("id").cloned().unwrap_or(Value::Null),
            ..RowChange::default()
        });
        self.ops.push(Op::Create {
            kind,
            uuid: None,
            body,
            origin,
            report_at: (0, 0),
            remember: Some((row_no, prints)),
        });
    }

    /// A row the export had, as the sheet holds it now.
    fn existing_row(
        &mut self,
        kind: &'static KindDef,
        sheet: &str,
        row_no: Option<usize>,
        key: &str,
        slots: &[Slot<'_>],
        report: &mut KindReport,
    ) {
        let base = &self.export.bases[&(sheet.to_owned(), key.to_owned())];
        let mut edited = Vec::new();
        let mut problems = Vec::new();
        for slot in slots.iter().filter(|s| s.column != "uuid") {
            if is_cut(slot.cell) {
                continue;
            }
            let (print, value) = cell_fingerprint(kind, slot.column, slot.cell);
            let base_print = base.print(slot.column);
            if print == base_print {
                continue;
            }
            match value {
                Err(message) => problems.push((slot, message)),
                Ok(_) if editable_field(kind, slot.column).is_none() => problems.push((
                    slot,
                    format!(
                        "\"{}\" is set by the box; a change to it cannot be imported (put the \
                         exported value back)",
                        slot.column
                    ),
                )),
                Ok(value) => edited.push((slot, print, base_print, value)),
            }
        }
        for (slot, message) in problems {
            self.problem(sheet, row_no, Some(slot), message);
        }
        if edited.is_empty() {
            return;
        }
        let current = match rows::load(self.conn, kind, key) {
            Ok(current) => current,
            Err(err) => {
                self.problem(sheet, row_no, None, err.to_string());
                return;
            }
        };
        let origin = origin(sheet, row_no, slots);
        let entity = match current {
            Some(entity) if !entity.is_deleted => entity,
            // Deleted on the box: soft-deleted (still here) or removed.
            deleted => {
                let edited = Edited {
                    slots,
                    cells: &edited,
                };
                self.deleted_on_box(kind, key, edited, deleted, origin, report);
                return;
            }
        };
        let wire = match read::render(self.conn, kind, &entity) {
            Ok(Value::Object(map)) => map,
            Ok(_) => Map::new(),
            Err(err) => {
                self.problem(sheet, row_no, None, err.to_string());
                return;
            }
        };
        let id = wire.get("id").cloned().unwrap_or(Value::Null);
        let mut body = Map::new();
        let mut changes = Vec::new();
        for (slot, print, base_print, value) in edited {
            let box_value = wire.get(slot.column).cloned().unwrap_or(Value::Null);
            let (box_print, _) = cell_fingerprint(kind, slot.column, &export_cell(&box_value));
            let take = if box_print == base_print {
                true
            } else if box_print == print {
                false
            } else {
                let outcome = self.options.on_conflict;
                self.report.conflicts.push(SheetConflict {
                    sheet: sheet.to_owned(),
                    row: row_no,
                    cell: Some(slot.address.clone()),
                    column: Some(slot.column.to_owned()),
                    uuid: entity.uuid.clone(),
                    id: id.clone(),
                    reason: "changed in both".into(),
                    box_value: box_value.clone(),
                    sheet_value: value.clone(),
                    outcome: outcome_text(outcome).into(),
                });
                outcome == OnConflict::TakeSheet
            };
            if take {
                let field = editable_field(kind, slot.column);
                let raw = cell_value(slot.cell, field.map(|f| &f.ty)).unwrap_or(Value::Null);
                body.insert(slot.column.to_owned(), raw);
                changes.push(FieldChange {
                    column: slot.column.to_owned(),
                    old: box_value,
                    new: value,
                });
            }
        }
        if body.is_empty() {
            return;
        }
        if let Err(err) = self.validate(kind, &body) {
            self.problems.push(origin.problem(&err));
            return;
        }
        report.updated.push(RowChange {
            row: row_no,
            uuid: Some(entity.uuid.clone()),
            id,
            changes,
        });
        self.ops.push(Op::Update {
            kind,
            key: key.to_owned(),
            version: entity.version,
            body,
            restore: false,
            origin,
        });
    }

    /// Whether a row's changed cells would be taken by the write path: the same decoding as
    /// a request body, and each link to a related row (a cable's ports, a port's format)
    /// names a row that exists, of this production.
    fn validate(&self, kind: &KindDef, body: &Map<String, Value>) -> Result<()> {
        let decoded = codec::decode_body(kind, body.clone())?;
        for embed in &kind.embeds {
            let Some(Value::String(uuid)) = decoded.fields.get(embed.column) else {
                continue;
            };
            let related = registry().kind(embed.kind);
            let found = rows::load(self.conn, related, uuid)?.filter(|row| {
                !row.is_deleted
                    && (related.scope != Scope::Production
                        || row.production_id.as_deref() == Some(self.production_id))
            });
            if found.is_none() {
                let wire = kind
                    .field(embed.column)
                    .map(|f| codec::wire_name(kind, f))
                    .unwrap_or(embed.column);
                return Err(StoreError::invalid(
                    wire,
                    format!(
                        "\"{wire}\" links to {} {uuid}, which this production does not have",
                        related.label.to_lowercase()
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn origin(sheet: &str, row: Option<usize>, slots: &[Slot<'_>]) -> Origin {
    Origin {
        sheet: sheet.to_owned(),
        row,
        cells: slots
            .iter()
            .map(|s| (s.column.to_owned(), s.address.clone()))
            .collect(),
    }
}

fn known_column(kind: &KindDef, name: &str) -> bool {
    sheet_columns(kind).iter().any(|c| c == name)
}
