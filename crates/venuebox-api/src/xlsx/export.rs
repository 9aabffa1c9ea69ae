//! A production export as the spreadsheet crews already keep: one sheet for the production's
//! own fields, then one sheet per kind (sources, sends, cameras, checklist-items, …) named by
//! its route family, a header row of wire names, one row per entity; and a hidden sheet that
//! lets the workbook come back ([`super::import`]). Driven by the export document, so every
//! kind the registry exports is in the workbook.
use rust_xlsxwriter::{Color, Format, Workbook, Worksheet, XlsxError};
use serde_json::{Map, Value};
use venuebox_store::registry;
use venuebox_store::workbook::{
    Cell, FORMAT, META_SHEET, PRODUCTION_SHEET, editable_field, export_cell, export_columns,
    row_fingerprints,
};

/// The rows of the hidden sheet, built beside the visible ones.
struct Meta {
    /// Sheet, uuid, version and the cells' fingerprints of each exported row.
    rows: Vec<(String, String, Option<i64>, String)>,
}

pub fn workbook(document: &Value) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let header = Format::new().set_bold();
    // Columns the box sets: greyed, so nobody mistakes them for something to fill in.
    let set_by_box = Format::new()
        .set_bold()
        .set_italic()
        .set_font_color(Color::Gray);
    let mut meta = Meta { rows: Vec::new() };

    let production = document["production"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let production_id = production
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let production_kind = registry().production();
    let sheet = book.add_worksheet().set_name(PRODUCTION_SHEET)?;
    sheet.write_string_with_format(0, 0, "field", &header)?;
    sheet.write_string_with_format(0, 1, "value", &header)?;
    let fields = export_columns(production_kind, production.keys().map(String::as_str));
    for (row, key) in (1u32..).zip(&fields) {
        let format = match editable_field(production_kind, key) {
            Some(_) => &Format::new(),
            None => &set_by_box,
        };
        sheet.write_string_with_format(row, 0, key, format)?;
        write_cell(sheet, row, 1, &export_cell(&production[key.as_str()]))?;
    }
    meta.record(
        PRODUCTION_SHEET,
        &production_id,
        production_kind,
        &fields,
        &production,
    );
    sheet.autofit();

    let empty = Map::new();
    let kinds = document["kinds"].as_object().unwrap_or(&empty);
    for (kind_name, rows) in kinds {
        let rows: &[Value] = rows.as_array().map(Vec::as_slice).unwrap_or_default();
        let Some(kind) = registry().get(kind_name) else {
            continue;
        };
        let keys = rows
            .iter()
            .filter_map(Value::as_object)
            .flat_map(Map::keys)
            .map(String::as_str);
        let columns = export_columns(kind, keys);
        let sheet = book.add_worksheet().set_name(kind.family)?;
        for (col, name) in (0u16..).zip(&columns) {
            let format = match editable_field(kind, name) {
                Some(_) => &header,
                None => &set_by_box,
            };
            sheet.write_string_with_format(0, col, name, format)?;
        }
        for (row, entity) in (1u32..).zip(rows) {
            let Some(entity) = entity.as_object() else {
                continue;
            };
            for (col, name) in (0u16..).zip(&columns) {
                let value = entity.get(name.as_str()).unwrap_or(&Value::Null);
                write_cell(sheet, row, col, &export_cell(value))?;
            }
            let uuid = entity.get("uuid").and_then(Value::as_str).unwrap_or("");
            meta.record(kind.family, uuid, kind, &columns, entity);
        }
        sheet.set_freeze_panes(1, 0)?;
        sheet.autofit();
    }

    let sheet = book.add_worksheet().set_name(META_SHEET)?;
    let exported_at = document["exportedAt"].as_str().unwrap_or_default();
    // Names this export: rows an import of it creates are remembered under it.
    let export_id = uuid::Uuid::new_v4().to_string();
    for (col, text) in (0u16..).zip([
        "format",
        FORMAT,
        "production",
        &production_id,
        "exportedAt",
        exported_at,
        "exportId",
        &export_id,
    ]) {
        sheet.write_string(0, col, text)?;
    }
    for (col, text) in (0u16..).zip(["sheet", "uuid", "version", "fingerprints"]) {
        sheet.write_string_with_format(1, col, text, &header)?;
    }
    for (row, (sheet_name, uuid, version, prints)) in (2u32..).zip(&meta.rows) {
        sheet.write_string(row, 0, sheet_name)?;
        sheet.write_string(row, 1, uuid)?;
        if let Some(version) = version {
            sheet.write_number(row, 2, *version as f64)?;
        }
        sheet.write_string(row, 3, prints)?;
    }
    // Hidden: it is the box's record of what it exported, not something to edit (an edit
    // only makes cells look changed or unchanged when they were not).
    sheet.set_hidden(true);
    book.save_to_buffer()
}

impl Meta {
    fn record(
        &mut self,
        sheet: &str,
        uuid: &str,
        kind: &venuebox_store::KindDef,
        columns: &[String],
        row: &Map<String, Value>,
    ) {
        let prints = row_fingerprints(kind, columns.iter().map(String::as_str), row);
        self.rows.push((
            sheet.to_owned(),
            uuid.to_owned(),
            row.get("version").and_then(Value::as_i64),
            Value::Object(prints).to_string(),
        ));
    }
}

fn write_cell(sheet: &mut Worksheet, row: u32, col: u16, cell: &Cell) -> Result<(), XlsxError> {
    match cell {
        Cell::Empty => Ok(()),
        Cell::Bool(b) => sheet.write_boolean(row, col, *b).map(|_| ()),
        Cell::Number(n) => sheet.write_number(row, col, *n).map(|_| ()),
        Cell::Text(text) => sheet.write_string(row, col, text).map(|_| ()),
        // The export writes neither; a date is written as the number it is.
        Cell::Date(ms) => sheet.write_number(row, col, *ms as f64).map(|_| ()),
        Cell::Error(text) => sheet.write_string(row, col, text).map(|_| ()),
    }
}
