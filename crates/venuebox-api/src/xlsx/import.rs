//! An uploaded workbook's sheets as cells, read with calamine. Formulas arrive as the value
//! the spreadsheet app last computed (what the crew saw), dates as epoch milliseconds.
use std::io::{Cursor, Read, Seek};

use calamine::{Data, Reader, Xlsx};
use venuebox_store::workbook::{Cell, Sheet};

/// Most bytes the workbook's parts may unpack to: a zip of a few MB that claims gigabytes is
/// refused before anything is unpacked.
const MAX_UNPACKED: u64 = 256 * 1024 * 1024;
/// Most parts (sheets, styles, …) in one workbook.
const MAX_PARTS: usize = 2_000;

/// Why a body cannot be read as a workbook, in words for the person who sent it.
pub type Unreadable = String;

pub fn read_sheets(bytes: Vec<u8>) -> Result<Vec<Sheet>, Unreadable> {
    check_unpacked_size(Cursor::new(&bytes))?;
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(|err| format!("{err}"))?;
    let mut sheets = Vec::new();
    for name in book.sheet_names() {
        let range = book
            .worksheet_range(&name)
            .map_err(|err| format!("sheet {name}: {err}"))?;
        let mut rows: Vec<Vec<Cell>> = Vec::new();
        if let Some((first_row, first_col)) = range.start() {
            // The range starts at the first used cell; the sheet's rows start at A1.
            rows.resize(first_row as usize, Vec::new());
            for row in range.rows() {
                let mut cells = vec![Cell::Empty; first_col as usize];
                cells.extend(row.iter().map(cell));
                rows.push(cells);
            }
        }
        // A formula whose value was never computed (a file written by a program that does
        // not calculate, such as openpyxl) reads as empty: it must not pass for a cleared
        // cell.
        let formulas = book
            .worksheet_formula(&name)
            .map_err(|err| format!("sheet {name}: {err}"))?;
        if let Some((first_row, first_col)) = formulas.start() {
            for (r, row) in formulas.rows().enumerate() {
                for (c, formula) in row.iter().enumerate() {
                    let (r, c) = (first_row as usize + r, first_col as usize + c);
                    if formula.is_empty() {
                        continue;
                    }
                    if rows.len() <= r {
                        rows.resize(r + 1, Vec::new());
                    }
                    if rows[r].len() <= c {
                        rows[r].resize(c + 1, Cell::Empty);
                    }
                    let blank = match &rows[r][c] {
                        Cell::Empty => true,
                        Cell::Text(text) => text.is_empty(),
                        _ => false,
                    };
                    if blank {
                        rows[r][c] = Cell::Error(format!(
                            "the formula ={formula} with no computed value (open and save the \
                             file in Excel or LibreOffice to compute it)"
                        ));
                    }
                }
            }
        }
        sheets.push(Sheet { name, rows });
    }
    Ok(sheets)
}

fn check_unpacked_size(reader: impl Read + Seek) -> Result<(), Unreadable> {
    let mut archive = zip::ZipArchive::new(reader)
        .map_err(|err| format!("not a zip archive, which every .xlsx is ({err})"))?;
    if archive.len() > MAX_PARTS {
        return Err(format!(
            "it has {} parts (at most {MAX_PARTS})",
            archive.len()
        ));
    }
    let mut total = 0u64;
    for index in 0..archive.len() {
        let part = archive
            .by_index_raw(index)
            .map_err(|err| format!("part {index}: {err}"))?;
        total = total.saturating_add(part.size());
    }
    if total > MAX_UNPACKED {
        return Err(format!(
            "it unpacks to {total} bytes (at most {MAX_UNPACKED})"
        ));
    }
    Ok(())
}

fn cell(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(text) => Cell::Text(text.clone()),
        Data::Float(f) => Cell::Number(*f),
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Bool(b) => Cell::Bool(*b),
        // A serial day number of the 1900 date system (day 25,569 is 1970-01-01); a duration
        // is a number of days, kept as the number it is.
        Data::DateTime(at) if at.is_duration() => Cell::Number(at.as_f64()),
        Data::DateTime(at) => Cell::Date(((at.as_f64() - 25_569.0) * 86_400_000.0).round() as i64),
        Data::DateTimeIso(text) | Data::DurationIso(text) => Cell::Text(text.clone()),
        Data::Error(err) => Cell::Error(format!("the error {err}")),
    }
}
