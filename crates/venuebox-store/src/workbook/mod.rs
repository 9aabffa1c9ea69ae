//! A production as a spreadsheet that comes back: the cells an export writes, and an edited
//! workbook read back as ordinary changes (issue #20).
//!
//! The file format is the API crate's business (rust_xlsxwriter writes it, calamine reads it);
//! this module sees only sheets of [`Cell`]s, the way a spreadsheet app stores them. Three
//! states of every cell are compared: what the export wrote (its *fingerprint*, kept in the
//! hidden `venuebox` sheet with each row's uuid and version), what the sheet holds now, and
//! what the box holds now. A cell the sheet changed becomes a field update through the same
//! write path as the API; a cell both the sheet and the box changed since the export is a
//! conflict ([`plan`]). All three go through one pipeline ([`cell_key`]), so a cell nobody
//! touched always compares equal, whatever the spreadsheet app did to its type on saving.
mod apply;
mod meta;
mod plan;
mod report;

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use crate::clock;
use crate::codec;
pub use crate::error::CellProblem;
use crate::registry::{FieldDef, FieldType, KindDef};

pub use apply::import;
pub use report::{
    FieldChange, ImportReport, KindReport, OnConflict, Options, RowChange, SheetConflict,
};

/// Names the hidden sheet's layout; a workbook with another one is refused.
pub const FORMAT: &str = "venuebox.workbook/1";
/// The hidden sheet with the production's id and each exported row's uuid, version and
/// fingerprints.
pub const META_SHEET: &str = "venuebox";
/// The sheet of the production's own fields, one `field | value` pair a row.
pub const PRODUCTION_SHEET: &str = "production";
/// Ends a text cut to what a spreadsheet cell holds; such a cell is never imported.
pub const CUT_MARKER: &str = "… [cut: longer than a spreadsheet cell holds; see the JSON export]";
/// Excel refuses longer cell strings.
pub const MAX_CELL_CHARS: usize = 32_767;

/// One cell as a spreadsheet app stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
    Bool(bool),
    /// A date or time cell, as epoch milliseconds (UTC: a spreadsheet has no zone).
    Date(i64),
    /// What cannot be a value: a formula's error (`#DIV/0!`), a formula never computed; the
    /// text says which, as in "the cell holds …".
    Error(String),
}

/// One sheet: its name and its rows, the first of which is the header.
#[derive(Debug, Clone, Default)]
pub struct Sheet {
    pub name: String,
    pub rows: Vec<Vec<Cell>>,
}

impl Sheet {
    pub fn cell(&self, row: usize, col: usize) -> &Cell {
        self.rows
            .get(row)
            .and_then(|r| r.get(col))
            .unwrap_or(&Cell::Empty)
    }
}

/// `A`, `B`, … `Z`, `AA` for a 0-based column.
pub fn column_letters(mut col: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

/// The cell an export writes for a wire value: numbers and booleans as such, lists and
/// objects (embedded ports, layouts) as compact JSON text, over-long text cut with
/// [`CUT_MARKER`].
pub fn export_cell(value: &Value) -> Cell {
    match value {
        Value::Null => Cell::Empty,
        Value::Bool(b) => Cell::Bool(*b),
        Value::Number(n) => match n.as_f64() {
            Some(f) => Cell::Number(f),
            None => text_cell(n.to_string()),
        },
        Value::String(s) => text_cell(s.clone()),
        other => text_cell(other.to_string()),
    }
}

fn text_cell(text: String) -> Cell {
    if text.chars().count() <= MAX_CELL_CHARS {
        return Cell::Text(text);
    }
    let kept: String = text
        .chars()
        .take(MAX_CELL_CHARS - CUT_MARKER.chars().count())
        .collect();
    Cell::Text(kept + CUT_MARKER)
}

/// Whether a cell holds a text the export had to cut (never imported: it is not the value).
pub fn is_cut(cell: &Cell) -> bool {
    matches!(cell, Cell::Text(t) if t.ends_with(CUT_MARKER))
}

/// The field a column of a kind's sheet writes, if it is one a person may edit: its wire
/// name, or an output alias a body may also carry (a production's `name`).
pub fn editable_field<'k>(kind: &'k KindDef, column: &str) -> Option<&'k FieldDef> {
    kind.fields.iter().find(|f| {
        f.writable
            && (codec::wire_name(kind, f) == column
                || (f.output_aliases.contains(&column) && f.accepts_key(column)))
    })
}

/// A cell as the JSON value a request body would carry for that column: what a spreadsheet
/// app made of what was typed (a number typed in a text column, `TRUE`, a date) is turned
/// back into the field's type. `None` for a column the box sets.
pub fn cell_value(cell: &Cell, ty: Option<&FieldType>) -> Result<Value, String> {
    let json_typed = matches!(ty, Some(FieldType::Json | FieldType::Children(_)));
    Ok(match cell {
        Cell::Empty => Value::Null,
        Cell::Error(what) => return Err(format!("the cell holds {what}")),
        Cell::Text(text) if json_typed => {
            let trimmed = text.trim();
            if trimmed.is_empty() {
                Value::Null
            } else if trimmed.starts_with('[') || trimmed.starts_with('{') {
                serde_json::from_str(trimmed).map_err(|err| format!("is not valid JSON: {err}"))?
            } else {
                Value::String(text.clone())
            }
        }
        Cell::Text(text) => match ty {
            Some(FieldType::Bool) => match text.trim().to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(text.clone()),
            },
            _ => Value::String(text.clone()),
        },
        Cell::Number(f) => number(*f),
        Cell::Bool(b) => match ty {
            Some(FieldType::Text) | None => Value::String(if *b { "TRUE" } else { "FALSE" }.into()),
            _ => Value::Bool(*b),
        },
        Cell::Date(ms) => match ty {
            Some(FieldType::Timestamp | FieldType::EpochMs) => Value::from(*ms),
            Some(FieldType::Text) | None => clock::from_epoch_ms(*ms)
                .map(|at| Value::String(clock::format_iso(at)))
                .ok_or_else(|| "is a date out of range".to_owned())?,
            Some(_) => return Err("is a date, where a date does not belong".into()),
        },
    })
}

/// A number as JSON: whole numbers as integers (a spreadsheet keeps every number as a float).
fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// A cell's value in the form compared between the export, the sheet and the box: the
/// field's own conversion (an enum's case, a timestamp's format), then a canonical JSON (empty
/// text is no value, keys sorted, whole floats as integers).
pub fn cell_key(kind: &KindDef, column: &str, cell: &Cell) -> Result<Value, String> {
    let field = editable_field(kind, column);
    let value = cell_value(cell, field.map(|f| &f.ty))?;
    let value = match field {
        Some(field) => codec::convert(&field.ty, value, column).map_err(|err| err.to_string())?,
        None => value,
    };
    Ok(canonical(value))
}

fn canonical(value: Value) -> Value {
    match value {
        Value::String(s) if s.is_empty() => Value::Null,
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.as_i64().is_none() && n.as_u64().is_none() => number(f),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        other => other,
    }
}

/// A short digest of a compared value (48 bits: two different values of one cell share one
/// about once in 2^48).
pub fn fingerprint(key: &Value) -> String {
    let digest = Sha256::digest(key.to_string().as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// A cell's fingerprint, and its compared value or why the column's type refuses it. A value
/// the type refuses is fingerprinted as the cell reads (so a stored value the type would
/// refuse today still matches its untouched cell).
pub fn cell_fingerprint(
    kind: &KindDef,
    column: &str,
    cell: &Cell,
) -> (String, Result<Value, String>) {
    let key = cell_key(kind, column, cell);
    // An error cell never matches a value (it is reported, not taken for an empty cell).
    let fallback = || match cell {
        Cell::Error(what) => Value::String(format!("\u{0}error: {what}")),
        _ => canonical(cell_value(cell, None).unwrap_or(Value::Null)),
    };
    let print = match &key {
        Ok(key) => fingerprint(key),
        Err(_) => fingerprint(&fallback()),
    };
    (print, key)
}

/// The fingerprint of every column of an exported wire row, as the export cell of each value
/// reads back.
pub fn row_fingerprints<'a>(
    kind: &KindDef,
    columns: impl IntoIterator<Item = &'a str>,
    row: &Map<String, Value>,
) -> Map<String, Value> {
    columns
        .into_iter()
        .map(|column| {
            let cell = export_cell(row.get(column).unwrap_or(&Value::Null));
            let (print, _) = cell_fingerprint(kind, column, &cell);
            (column.to_owned(), Value::String(print))
        })
        .collect()
}

/// The columns an export of a kind has: `uuid`, every field's wire name and output alias,
/// the row's envelope and the embeds.
pub fn sheet_columns(kind: &KindDef) -> Vec<String> {
    let mut columns = vec!["uuid".to_owned()];
    for field in &kind.fields {
        columns.extend(field.output_aliases.iter().map(|a| (*a).to_owned()));
        columns.push(codec::wire_name(kind, field).to_owned());
    }
    let camel = kind.wire_case == crate::registry::WireCase::Camel;
    for (camel_key, snake_key) in ENVELOPE {
        columns.push(if camel { camel_key } else { snake_key }.to_owned());
    }
    columns.extend(kind.embeds.iter().map(|e| e.wire.to_owned()));
    columns
}

/// The keys every wire row carries besides its fields (`codec::write_row`).
const ENVELOPE: [(&str, &str); 8] = [
    ("productionId", "production_id"),
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
    ("version", "version"),
    ("isDeleted", "is_deleted"),
    ("lastModifiedBy", "last_modified_by"),
    ("syncedAt", "synced_at"),
    ("fieldVersions", "field_versions"),
];

/// A kind's sheet's columns, in the order an export writes them: the fields a person edits
/// first (in the rows' order), then the columns the box sets, and the row's `uuid` last — the
/// columns nobody should edit are out of the way at the right. `keys` are the exported rows'
/// keys (every key any row has); a kind without rows gets every column it could have.
pub fn export_columns<'a>(kind: &KindDef, keys: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for key in keys {
        if !columns.iter().any(|c| c == key) {
            columns.push(key.to_owned());
        }
    }
    if columns.is_empty() {
        columns = sheet_columns(kind);
    }
    let (mut editable, mut set_by_box): (Vec<String>, Vec<String>) = columns
        .into_iter()
        .filter(|c| c != "uuid")
        .partition(|c| editable_field(kind, c).is_some());
    editable.append(&mut set_by_box);
    if kind.key == crate::registry::KeyStyle::Uuid {
        editable.push("uuid".to_owned());
    }
    editable
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kinds::registry;

    fn print(kind: &str, column: &str, cell: Cell) -> String {
        cell_fingerprint(registry().kind(kind), column, &cell).0
    }

    fn exported(kind: &str, column: &str, value: Value) -> String {
        print(kind, column, export_cell(&value))
    }

    #[test]
    fn what_spreadsheet_apps_make_of_a_value_compares_equal_to_the_value() {
        // A whole number comes back as a float, or as text where the cell was text.
        assert_eq!(
            exported("source", "hRes", json!(1920)),
            print("source", "hRes", Cell::Number(1920.0))
        );
        assert_eq!(
            exported("source", "hRes", json!(1920)),
            print("source", "hRes", Cell::Text(" 1920 ".into()))
        );
        // Booleans typed as text, in any case.
        assert_eq!(
            exported("checklist-item", "completed", json!(true)),
            print("checklist-item", "completed", Cell::Text("TRUE".into()))
        );
        // An empty cell and an empty string are both no value.
        assert_eq!(
            exported("source", "note", Value::Null),
            print("source", "note", Cell::Text(String::new()))
        );
        // A date cell is the instant the timestamp names.
        let due = exported(
            "checklist-item",
            "dueDate",
            json!("2026-12-24T18:00:00.000Z"),
        );
        let ms = 1_798_135_200_000; // 2026-12-24T18:00:00Z
        assert_eq!(due, print("checklist-item", "dueDate", Cell::Date(ms)));
        // An enum's case and separators are the field's own conversion.
        assert_eq!(
            exported("production", "status", json!("PLANNING")),
            print("production", "status", Cell::Text("planning".into()))
        );
        // Child lists as JSON text, whatever the key order.
        let outputs = json!([{"connector": "SDI", "outputIndex": 1}]);
        let reordered = Cell::Text(r#"[{"outputIndex":1,"connector":"SDI"}]"#.into());
        assert_eq!(
            exported("source", "outputs", outputs),
            print("source", "outputs", reordered)
        );
    }

    #[test]
    fn a_changed_or_unreadable_cell_never_matches_its_export() {
        assert_ne!(
            exported("source", "name", json!("Cam 1")),
            print("source", "name", Cell::Text("Cam 2".into()))
        );
        assert_ne!(
            exported("source", "note", Value::Null),
            print("source", "note", Cell::Error("the error #REF!".into()))
        );
        let (_, value) = cell_fingerprint(
            registry().kind("source"),
            "hRes",
            &Cell::Text("wide".into()),
        );
        assert!(value.unwrap_err().contains("integer"));
        let (_, value) = cell_fingerprint(
            registry().kind("source"),
            "outputs",
            &Cell::Text("[oops".into()),
        );
        assert!(value.unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn over_long_text_is_cut_with_a_marker_and_never_imported() {
        let long = "x".repeat(MAX_CELL_CHARS + 10);
        let cell = export_cell(&json!(long));
        let Cell::Text(text) = &cell else {
            panic!("text")
        };
        assert_eq!(text.chars().count(), MAX_CELL_CHARS);
        assert!(is_cut(&cell));
    }

    #[test]
    fn columns_are_lettered_as_spreadsheets_letter_them() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    #[test]
    fn the_columns_a_person_edits_come_first_and_the_uuid_last() {
        let kind = registry().kind("source");
        let columns = export_columns(kind, ["uuid", "id", "name", "version", "createdAt", "note"]);
        assert_eq!(
            columns,
            ["id", "name", "note", "version", "createdAt", "uuid"]
        );
        // A kind without rows still shows every column it has.
        let empty = export_columns(kind, []);
        assert!(empty.contains(&"hRes".to_owned()) && empty.last().unwrap() == "uuid");
    }
}
