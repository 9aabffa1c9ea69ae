//! A production export as the spreadsheet crews already keep: one sheet for the production's
//! own fields, then one sheet per kind (sources, sends, cameras, checklist-items, …) named by
//! its route family, a header row of wire names, one row per entity. Driven by the export
//! document, so every kind the registry exports is in the workbook.
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};
use serde_json::{Map, Value};
use venuebox_store::registry;

/// Excel refuses longer cell strings; longer values (a big JSON blob) are cut with a marker.
const MAX_CELL_CHARS: usize = 32_767;

pub fn workbook(document: &Value) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let header = Format::new().set_bold();

    let production = document["production"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let sheet = book.add_worksheet().set_name("production")?;
    sheet.write_string_with_format(0, 0, "field", &header)?;
    sheet.write_string_with_format(0, 1, "value", &header)?;
    for (row, (key, value)) in (1u32..).zip(production.iter()) {
        sheet.write_string(row, 0, key)?;
        write_value(sheet, row, 1, value)?;
    }
    sheet.autofit();

    let empty = Map::new();
    let kinds = document["kinds"].as_object().unwrap_or(&empty);
    for (kind_name, rows) in kinds {
        let rows: &[Value] = rows.as_array().map(Vec::as_slice).unwrap_or_default();
        let columns = columns(kind_name, rows);
        let sheet_name = registry()
            .get(kind_name)
            .map(|kind| kind.family)
            .unwrap_or(kind_name);
        let sheet = book.add_worksheet().set_name(sheet_name)?;
        for (col, name) in (0u16..).zip(&columns) {
            sheet.write_string_with_format(0, col, name, &header)?;
        }
        for (row, entity) in (1u32..).zip(rows) {
            for (col, name) in (0u16..).zip(&columns) {
                write_value(sheet, row, col, &entity[name.as_str()])?;
            }
        }
        sheet.set_freeze_panes(1, 0)?;
        sheet.autofit();
    }
    book.save_to_buffer()
}

/// Every key any row has, in the order rows have them; for a kind with no rows, its
/// registry's wire names, so the empty sheet still shows what a crew would fill in.
fn columns(kind_name: &str, rows: &[Value]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        for key in row.as_object().into_iter().flat_map(Map::keys) {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    if columns.is_empty()
        && let Some(kind) = registry().get(kind_name)
    {
        columns.push("id".to_owned());
        columns.extend(kind.fields.iter().map(|f| f.wire.clone()));
    }
    columns
}

fn write_value(sheet: &mut Worksheet, row: u32, col: u16, value: &Value) -> Result<(), XlsxError> {
    match value {
        Value::Null => Ok(()),
        Value::Bool(b) => sheet.write_boolean(row, col, *b).map(|_| ()),
        Value::Number(n) => match n.as_f64() {
            Some(f) => sheet.write_number(row, col, f).map(|_| ()),
            None => write_text(sheet, row, col, &n.to_string()),
        },
        Value::String(s) => write_text(sheet, row, col, s),
        // Lists and objects (embedded ports, multiviewer layouts) as compact JSON.
        other => write_text(sheet, row, col, &other.to_string()),
    }
}

fn write_text(sheet: &mut Worksheet, row: u32, col: u16, text: &str) -> Result<(), XlsxError> {
    if text.chars().count() <= MAX_CELL_CHARS {
        return sheet.write_string(row, col, text).map(|_| ());
    }
    let marker = "… [cut: longer than a spreadsheet cell holds; see the JSON export]";
    let kept: String = text
        .chars()
        .take(MAX_CELL_CHARS - marker.chars().count())
        .collect();
    sheet.write_string(row, col, kept + marker).map(|_| ())
}
