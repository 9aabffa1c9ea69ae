//! The two conflicts between a delete and an edit: a row the sheet edited that the box
//! deleted since the export, and a row the sheet dropped (`--delete-missing`) that the box
//! changed since. As in sync, a delete never silently wins over an edit it had not seen.
use serde_json::{Map, Value};

use super::{Edited, Op, Origin, Planner, Slot};
use crate::model::Entity;
use crate::read;
use crate::registry::KindDef;
use crate::rows;
use crate::workbook::report::{KindReport, OnConflict, RowChange, SheetConflict, outcome_text};
use crate::workbook::{cell_fingerprint, cell_value, editable_field, export_cell, is_cut};

impl Planner<'_> {
    /// A row the sheet edited that the box has deleted since the export.
    pub(super) fn deleted_on_box(
        &mut self,
        kind: &'static KindDef,
        key: &str,
        edited: Edited<'_, '_>,
        soft_deleted: Option<Entity>,
        origin: Origin,
        report: &mut KindReport,
    ) {
        let Edited {
            slots,
            cells: edited,
        } = edited;
        let row_no = origin.row;
        let outcome = self.options.on_conflict;
        let sheet_value: Map<String, Value> = edited
            .iter()
            .map(|(slot, _, _, value)| (slot.column.to_owned(), value.clone()))
            .collect();
        self.report.conflicts.push(SheetConflict {
            sheet: origin.sheet.clone(),
            row: row_no,
            cell: None,
            column: None,
            uuid: key.to_owned(),
            id: Value::Null,
            reason: "deleted on the box".into(),
            box_value: Value::Null,
            sheet_value: Value::Object(sheet_value),
            outcome: outcome_text(outcome).into(),
        });
        if outcome != OnConflict::TakeSheet {
            return;
        }
        // Taking the sheet's row brings it back: a soft-deleted row is restored with the
        // sheet's edits, a removed one is created again under its uuid with every cell.
        let mut body = Map::new();
        let chosen: Vec<&Slot<'_>> = match &soft_deleted {
            Some(_) => edited.iter().map(|(slot, ..)| *slot).collect(),
            None => slots.iter().collect(),
        };
        for slot in chosen {
            if let Some(field) = editable_field(kind, slot.column)
                && !is_cut(slot.cell)
                && let Ok(value) = cell_value(slot.cell, Some(&field.ty))
                && !value.is_null()
            {
                body.insert(slot.column.to_owned(), value);
            }
        }
        match soft_deleted {
            Some(entity) => {
                report.updated.push(RowChange {
                    row: row_no,
                    uuid: Some(key.to_owned()),
                    ..RowChange::default()
                });
                self.ops.push(Op::Update {
                    kind,
                    key: key.to_owned(),
                    version: entity.version,
                    body,
                    restore: true,
                    origin,
                });
            }
            None => {
                body.insert("productionId".into(), Value::from(self.production_id));
                report.created.push(RowChange {
                    row: row_no,
                    uuid: Some(key.to_owned()),
                    ..RowChange::default()
                });
                self.ops.push(Op::Create {
                    kind,
                    uuid: Some(key.to_owned()),
                    body,
                    origin,
                    report_at: (0, 0),
                    remember: None,
                });
            }
        }
    }

    /// A row the export had that the sheet no longer has.
    pub(super) fn missing_row(
        &mut self,
        kind: &'static KindDef,
        sheet: &str,
        uuid: &str,
        report: &mut KindReport,
    ) {
        let entity = match rows::load(self.conn, kind, uuid) {
            Ok(Some(entity)) if !entity.is_deleted => entity,
            Ok(_) => return,
            Err(err) => {
                self.problem(sheet, None, None, err.to_string());
                return;
            }
        };
        let wire = match read::render(self.conn, kind, &entity) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let id = wire.get("id").cloned().unwrap_or(Value::Null);
        let row = RowChange {
            uuid: Some(uuid.to_owned()),
            id: id.clone(),
            ..RowChange::default()
        };
        if !self.options.delete_missing {
            report.missing_kept.push(row);
            return;
        }
        let base = &self.export.bases[&(sheet.to_owned(), uuid.to_owned())];
        let changed: Map<String, Value> = base
            .prints
            .keys()
            .filter(|column| editable_field(kind, column).is_some())
            .filter(|column| {
                let value = wire.get(column.as_str()).unwrap_or(&Value::Null);
                cell_fingerprint(kind, column, &export_cell(value)).0 != base.print(column)
            })
            .map(|column| {
                (
                    column.clone(),
                    wire.get(column).cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        let origin = Origin {
            sheet: sheet.to_owned(),
            row: None,
            cells: Vec::new(),
        };
        if !changed.is_empty() {
            let outcome = self.options.on_conflict;
            self.report.conflicts.push(SheetConflict {
                sheet: sheet.to_owned(),
                row: None,
                cell: None,
                column: None,
                uuid: uuid.to_owned(),
                id,
                reason: "changed on the box".into(),
                box_value: Value::Object(changed),
                sheet_value: Value::Null,
                outcome: outcome_text(outcome).into(),
            });
            if outcome != OnConflict::TakeSheet {
                return;
            }
        }
        report.deleted.push(row);
        self.deletes.push(Op::Delete {
            kind,
            key: uuid.to_owned(),
            origin,
        });
    }
}
