//! The spreadsheet as a working copy (issue #20): an `.xlsx` export, edited, comes back as
//! ordinary changes. Workbooks are exported by the box, read with calamine and written back
//! with rust_xlsxwriter here (the openpyxl and LibreOffice round trips are in
//! tests/xlsx/roundtrip.py).
use calamine::{Data, Reader, Xlsx};
use reqwest::StatusCode;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// One sheet as cells, row 0 the header.
#[derive(Clone)]
struct Table {
    name: String,
    rows: Vec<Vec<Data>>,
    hidden: bool,
}

impl Table {
    fn col(&self, header: &str) -> usize {
        self.rows[0]
            .iter()
            .position(|c| *c == Data::String(header.into()))
            .unwrap_or_else(|| panic!("{}: no column {header}", self.name))
    }
    /// The row (index into `rows`) whose `column` holds `value`.
    fn row_where(&self, column: &str, value: &str) -> usize {
        let col = self.col(column);
        self.rows
            .iter()
            .position(|r| r.get(col) == Some(&Data::String(value.into())))
            .unwrap_or_else(|| panic!("{}: no row with {column} = {value}", self.name))
    }
    fn set(&mut self, row: usize, column: &str, value: Data) {
        let col = self.col(column);
        let cells = &mut self.rows[row];
        if cells.len() <= col {
            cells.resize(col + 1, Data::Empty);
        }
        cells[col] = value;
    }
}

struct Book(Vec<Table>);

impl Book {
    fn sheet(&mut self, name: &str) -> &mut Table {
        self.0
            .iter_mut()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no sheet {name}"))
    }

    fn read(bytes: &[u8]) -> Book {
        let mut book: Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let hidden: Vec<String> = book
            .sheets_metadata()
            .iter()
            .filter(|s| s.visible != calamine::SheetVisible::Visible)
            .map(|s| s.name.clone())
            .collect();
        let mut tables = Vec::new();
        for name in book.sheet_names() {
            let range = book.worksheet_range(&name).unwrap();
            assert_eq!(
                range.start().unwrap_or((0, 0)),
                (0, 0),
                "{name} starts at A1"
            );
            tables.push(Table {
                hidden: hidden.contains(&name),
                rows: range.rows().map(<[Data]>::to_vec).collect(),
                name,
            });
        }
        Book(tables)
    }

    fn write(&self) -> Vec<u8> {
        let mut book = Workbook::new();
        let date = Format::new().set_num_format("yyyy-mm-dd hh:mm");
        for table in &self.0 {
            let sheet = book.add_worksheet().set_name(&table.name).unwrap();
            for (r, row) in table.rows.iter().enumerate() {
                for (c, cell) in row.iter().enumerate() {
                    let (r, c) = (r as u32, c as u16);
                    match cell {
                        Data::Empty => {}
                        Data::String(s) => {
                            sheet.write_string(r, c, s).unwrap();
                        }
                        Data::Float(f) => {
                            sheet.write_number(r, c, *f).unwrap();
                        }
                        Data::Int(i) => {
                            sheet.write_number(r, c, *i as f64).unwrap();
                        }
                        Data::Bool(b) => {
                            sheet.write_boolean(r, c, *b).unwrap();
                        }
                        Data::DateTime(at) => {
                            let at = ExcelDateTime::from_serial_datetime(at.as_f64()).unwrap();
                            sheet.write_datetime_with_format(r, c, at, &date).unwrap();
                        }
                        other => panic!("cannot write {other:?}"),
                    }
                }
            }
            if table.hidden {
                sheet.set_hidden(true);
            }
        }
        book.save_to_buffer().unwrap()
    }
}

async fn export(app: &TestApp, production: &str) -> Book {
    let response = app
        .client
        .get(format!(
            "{}/api/productions/{production}/export?format=xlsx",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    Book::read(&response.bytes().await.unwrap())
}

async fn import(app: &TestApp, production: &str, book: &Book, query: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!(
            "{}/api/productions/{production}/workbook?{query}",
            app.address
        ))
        .header(
            "content-type",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        .body(book.write())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// A production with three sources and two checklist items.
async fn show(app: &TestApp) -> String {
    let production = app.create_production("Spreadsheet show").await;
    for name in ["Cam 1", "Cam 2", "Cam 3"] {
        let (status, _) = app
            .post(
                "/api/sources",
                json!({"productionId": production, "name": name, "type": "camera"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    for title in ["Power", "Patch"] {
        let (status, _) = app
            .post(
                "/api/checklist-items",
                json!({"productionId": production, "title": title}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    production
}

async fn rows(app: &TestApp, family: &str, production: &str) -> Vec<Value> {
    let (status, list) = app
        .get_owned(format!("/api/{family}/production/{production}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    list.as_array().unwrap().clone()
}

fn by_name<'a>(rows: &'a [Value], key: &str, value: &str) -> &'a Value {
    rows.iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key} = {value}"))
}

/// Every field of every row, except the ones each write moves (version, times, author).
fn content(rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .map(|row| {
            let mut row = row.as_object().unwrap().clone();
            for key in ["version", "updatedAt", "lastModifiedBy", "syncedAt"] {
                row.remove(key);
            }
            Value::Object(row)
        })
        .collect()
}

#[tokio::test]
async fn an_untouched_export_comes_back_as_no_change() {
    let app = spawn_app().await;
    let production = show(&app).await;
    let book = export(&app, &production).await;
    let meta = book.0.last().unwrap();
    assert_eq!(meta.name, "venuebox");
    assert!(meta.hidden, "the export's record is a hidden sheet");
    let sources = &book.0.iter().find(|t| t.name == "sources").unwrap().rows[0];
    assert_eq!(
        sources.last(),
        Some(&Data::String("uuid".into())),
        "the uuid is the last column, out of the way"
    );
    let (status, report) = import(&app, &production, &book, "").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (&report["created"], &report["updated"], &report["deleted"]),
        (&json!(0), &json!(0), &json!(0)),
        "{report}"
    );
    assert_eq!(report["applied"], true);
}

#[tokio::test]
async fn exactly_the_edited_cells_change_whatever_the_spreadsheet_made_of_them() {
    let app = spawn_app().await;
    let production = show(&app).await;
    let before_sources = rows(&app, "sources", &production).await;
    let before_items = rows(&app, "checklist-items", &production).await;
    let mut book = export(&app, &production).await;

    let sources = book.sheet("sources");
    let cam2 = sources.row_where("name", "Cam 2");
    sources.set(cam2, "name", Data::String("Cam 2 wide".into()));
    // A number typed as text, as a spreadsheet keeps "1920" typed in a text-formatted cell.
    sources.set(cam2, "hRes", Data::String("1920".into()));
    let cam3 = sources.row_where("name", "Cam 3");
    // Whole numbers come back as floats; the enum's case is the app's, not the box's.
    sources.set(cam3, "vRes", Data::Float(1080.0));
    sources.set(cam3, "note", Data::String("spare".into()));
    let items = book.sheet("checklist-items");
    let power = items.row_where("title", "Power");
    // A real date cell (epoch 2026-12-24 18:00 UTC is serial 46380.75).
    items.set(
        power,
        "dueDate",
        Data::DateTime(calamine::ExcelDateTime::new(
            46380.75,
            calamine::ExcelDateTimeType::DateTime,
            false,
        )),
    );
    // An empty string where there was no value: still no value, not an edit.
    let patch = items.row_where("title", "Patch");
    items.set(patch, "assignedTo", Data::String(String::new()));
    // Booleans as a spreadsheet writes them when typed as text.
    items.set(patch, "completed", Data::String("FALSE".into()));

    let (_, sync) = app.get("/api/sync/status").await;
    let queued_before = sync["lastNodeSeq"].as_i64().unwrap();
    let (status, report) = import(&app, &production, &book, "").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["updated"], 3, "{report}");
    assert_eq!(report["created"], 0);
    // Each row's update is one entry of the sync outbox, as an edit through the API is.
    let (_, sync) = app.get("/api/sync/status").await;
    assert_eq!(sync["lastNodeSeq"].as_i64().unwrap(), queued_before + 3);

    let after_sources = rows(&app, "sources", &production).await;
    let mut expected = content(&before_sources);
    for row in &mut expected {
        match row["name"].as_str() {
            Some("Cam 2") => {
                row["name"] = json!("Cam 2 wide");
                row["hRes"] = json!(1920);
            }
            Some("Cam 3") => {
                row["vRes"] = json!(1080);
                row["note"] = json!("spare");
            }
            _ => {}
        }
    }
    assert_eq!(content(&after_sources), expected);
    let after_items = rows(&app, "checklist-items", &production).await;
    let mut expected = content(&before_items);
    for row in &mut expected {
        if row["title"] == "Power" {
            row["dueDate"] = json!("2026-12-24T18:00:00.000Z");
        }
    }
    assert_eq!(content(&after_items), expected);
    // The edit went through the write path: a new version, the importer named.
    let cam2 = by_name(&after_sources, "name", "Cam 2 wide");
    assert_eq!(cam2["version"], 2);
    assert_eq!(cam2["lastModifiedBy"], "spreadsheet import");
}

#[tokio::test]
async fn a_cell_changed_in_the_sheet_and_on_the_box_is_a_conflict_never_silently_overwritten() {
    let app = spawn_app().await;
    let production = show(&app).await;
    let mut book = export(&app, &production).await;
    let sources = book.sheet("sources");
    let cam1 = sources.row_where("name", "Cam 1");
    sources.set(cam1, "name", Data::String("Sheet name".into()));
    let cam2 = sources.row_where("name", "Cam 2");
    sources.set(cam2, "note", Data::String("from the sheet".into()));
    // Meanwhile on the box: Cam 1 renamed, Cam 3 annotated (no conflict: the sheet left it).
    let listed = rows(&app, "sources", &production).await;
    for (name, change) in [
        ("Cam 1", json!({"name": "Box name"})),
        ("Cam 3", json!({"note": "from the box"})),
    ] {
        let row = by_name(&listed, "name", name);
        let mut body = change;
        body["version"] = row["version"].clone();
        let (status, _) = app
            .put(
                &format!("/api/sources/{}", row["uuid"].as_str().unwrap()),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }

    // Refused by default: nothing at all applied, the conflict named with both values.
    let (status, answer) = import(&app, &production, &book, "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["code"], "WORKBOOK_CONFLICT");
    let conflicts = answer["report"]["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{answer}");
    assert_eq!(conflicts[0]["column"], "name");
    assert_eq!(conflicts[0]["boxValue"], "Box name");
    assert_eq!(conflicts[0]["sheetValue"], "Sheet name");
    assert_eq!(conflicts[0]["reason"], "changed in both");
    let now = rows(&app, "sources", &production).await;
    assert_eq!(by_name(&now, "name", "Cam 2")["note"], Value::Null);
    assert_eq!(by_name(&now, "name", "Cam 3")["note"], "from the box");

    // keep-box: the rest is applied, the box's value stays.
    let (status, report) = import(&app, &production, &book, "onConflict=keep-box").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let now = rows(&app, "sources", &production).await;
    assert_eq!(by_name(&now, "name", "Cam 2")["note"], "from the sheet");
    by_name(&now, "name", "Box name");
    assert_eq!(by_name(&now, "name", "Cam 3")["note"], "from the box");

    // take-sheet: a person chose the sheet's value.
    let (status, report) = import(&app, &production, &book, "onConflict=take-sheet").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let now = rows(&app, "sources", &production).await;
    by_name(&now, "name", "Sheet name");
    assert_eq!(report["conflicts"][0]["outcome"], "took the sheet's value");
}

#[tokio::test]
async fn a_bad_cell_changes_nothing_and_every_problem_is_named_by_sheet_cell_and_column() {
    let app = spawn_app().await;
    let production = show(&app).await;
    let (status, _) = app
        .post(
            "/api/device-ports",
            json!({"productionId": production, "deviceUuid": "switcher", "portLabel": "SDI 1",
                   "ioType": "SDI", "direction": "OUTPUT"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = rows(&app, "sources", &production).await;
    let mut book = export(&app, &production).await;
    // A link to a row that does not exist (a port's video format).
    let ports = book.sheet("device-ports");
    ports.set(1, "formatUuid", Data::String("no-such-format".into()));
    let sources = book.sheet("sources");
    let cam1 = sources.row_where("name", "Cam 1");
    sources.set(cam1, "name", Data::String("Renamed".into()));
    let cam2 = sources.row_where("name", "Cam 2");
    sources.set(cam2, "hRes", Data::String("wide".into()));
    let hres = sources.col("hRes");
    let row_no = cam2 + 1;
    let cam3 = sources.row_where("name", "Cam 3");
    sources.set(cam3, "createdAt", Data::String("yesterday".into()));
    let sheet = book.sheet("production");
    let status_row = sheet.row_where("field", "status");
    sheet.set(status_row, "value", Data::String("hologram".into()));

    let (status, answer) = import(&app, &production, &book, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["code"], "WORKBOOK_INVALID");
    let problems = answer["problems"].as_array().unwrap();
    let letters = (b'A' + hres as u8) as char;
    assert!(
        problems.iter().any(|p| p["sheet"] == "sources"
            && p["column"] == "hRes"
            && p["cell"] == format!("{letters}{row_no}")
            && p["message"].as_str().unwrap().contains("integer")),
        "{answer}"
    );
    assert!(
        problems.iter().any(|p| p["sheet"] == "production"
            && p["column"] == "status"
            && p["cell"] == format!("B{}", status_row + 1)
            && p["message"].as_str().unwrap().contains("one of")),
        "{answer}"
    );
    assert!(
        problems.iter().any(|p| p["column"] == "createdAt"
            && p["message"].as_str().unwrap().contains("set by the box")),
        "{answer}"
    );
    assert!(
        problems.iter().any(|p| p["sheet"] == "device-ports"
            && p["column"] == "formatUuid"
            && p["message"].as_str().unwrap().contains("does not have")),
        "{answer}"
    );
    assert_eq!(
        rows(&app, "sources", &production).await,
        before,
        "nothing applied"
    );

    // An unknown column and an unknown sheet are named too.
    let mut book = export(&app, &production).await;
    let sources = book.sheet("sources");
    sources.rows[0].push(Data::String("colour".into()));
    book.0.insert(
        1,
        Table {
            name: "Notes".into(),
            rows: vec![vec![Data::String("todo".into())]],
            hidden: false,
        },
    );
    let (status, answer) = import(&app, &production, &book, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let text = answer.to_string();
    assert!(text.contains("unknown column \\\"colour\\\""), "{text}");
    assert!(text.contains("unknown sheet \\\"Notes\\\""), "{text}");
}

#[tokio::test]
async fn rows_added_are_created_once_and_rows_dropped_are_deleted_only_when_asked() {
    let app = spawn_app().await;
    let production = show(&app).await;
    let mut book = export(&app, &production).await;
    let sources = book.sheet("sources");
    // A new row (no uuid), and Cam 3 removed from the sheet.
    let cam3 = sources.row_where("name", "Cam 3");
    sources.rows.remove(cam3);
    let mut added = vec![Data::Empty; sources.rows[0].len()];
    added[sources.col("name")] = Data::String("Cam 4".into());
    added[sources.col("type")] = Data::String("camera".into());
    sources.rows.push(added);

    let (status, report) = import(&app, &production, &book, "dryRun=true").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["dryRun"], true);
    assert_eq!(report["applied"], false);
    assert_eq!(report["created"], 1);
    assert_eq!(
        rows(&app, "sources", &production).await.len(),
        3,
        "a dry run writes nothing"
    );

    let (status, report) = import(&app, &production, &book, "").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let sheet = &report["sheets"][0];
    assert_eq!(sheet["created"][0]["id"], "SRC 4", "{report}");
    assert_eq!(sheet["missingKept"][0]["id"], "SRC 3", "{report}");
    let now = rows(&app, "sources", &production).await;
    assert_eq!(now.len(), 4);

    // The same workbook again: its new row is the one already created, not another.
    let (status, report) = import(&app, &production, &book, "deleteMissing=true").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 0, "{report}");
    assert!(
        report["notes"][0]
            .as_str()
            .unwrap()
            .contains("not added again")
    );
    assert_eq!(report["deleted"], 1, "{report}");
    let now = rows(&app, "sources", &production).await;
    let names: Vec<&str> = now.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Cam 1", "Cam 2", "Cam 4"]);
}

#[tokio::test]
async fn a_delete_never_wins_over_an_edit_it_had_not_seen_nor_an_edit_over_a_delete() {
    let app = spawn_app().await;
    let production = show(&app).await;
    let mut book = export(&app, &production).await;
    let listed = rows(&app, "sources", &production).await;
    let cam1 = by_name(&listed, "name", "Cam 1").clone();
    let cam2 = by_name(&listed, "name", "Cam 2").clone();
    // The box edits Cam 1 (which the sheet drops) and deletes Cam 2 (which the sheet edits).
    let (status, _) = app
        .put(
            &format!("/api/sources/{}", cam1["uuid"].as_str().unwrap()),
            json!({"note": "still needed", "version": cam1["version"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .delete(&format!("/api/sources/{}", cam2["uuid"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    let sources = book.sheet("sources");
    let row = sources.row_where("name", "Cam 2");
    sources.set(row, "note", Data::String("edited on the train".into()));
    let row = sources.row_where("name", "Cam 1");
    sources.rows.remove(row);

    let (status, answer) = import(&app, &production, &book, "deleteMissing=true").await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let reasons: Vec<&str> = answer["report"]["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["deleted on the box", "changed on the box"],
        "{answer}"
    );

    let (status, report) = import(
        &app,
        &production,
        &book,
        "deleteMissing=true&onConflict=keep-box",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let now = rows(&app, "sources", &production).await;
    let names: Vec<&str> = now.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Cam 1", "Cam 3"],
        "the box's edit and delete both stand"
    );

    // take-sheet: a person chose the sheet — the row it edited comes back under its uuid with
    // the sheet's edit, and the row it dropped goes.
    let (status, report) = import(
        &app,
        &production,
        &book,
        "deleteMissing=true&onConflict=take-sheet",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let now = rows(&app, "sources", &production).await;
    let names: Vec<&str> = now.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Cam 2", "Cam 3"], "{report}");
    let back = by_name(&now, "name", "Cam 2");
    assert_eq!(back["uuid"], cam2["uuid"]);
    assert_eq!(back["note"], "edited on the train");
}

#[tokio::test]
async fn a_workbook_that_is_not_this_productions_export_is_refused_whole() {
    let app = spawn_app().await;
    let production = show(&app).await;
    let other = app.create_production("Another show").await;
    let book = export(&app, &production).await;
    let (status, answer) = import(&app, &other, &book, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("export of production")
    );

    // A copied row keeps its original's uuid: named, not merged into the original.
    let mut book = export(&app, &production).await;
    let sources = book.sheet("sources");
    let copy = sources.rows[1].clone();
    sources.rows.push(copy);
    let (status, answer) = import(&app, &production, &book, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("copied row"),
        "{answer}"
    );

    // Without the hidden sheet the import cannot tell edits from the box's changes.
    let mut book = export(&app, &production).await;
    book.0.retain(|t| t.name != "venuebox");
    let (status, answer) = import(&app, &production, &book, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["code"], "WORKBOOK_INVALID");

    // Not a workbook at all, or not sent as one.
    let response = app
        .client
        .post(format!(
            "{}/api/productions/{production}/workbook",
            app.address
        ))
        .header("content-type", "application/octet-stream")
        .body(b"PK\x03\x04 not really".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["code"], "WORKBOOK_UNREADABLE");
    let response = app
        .client
        .post(format!(
            "{}/api/productions/{production}/workbook",
            app.address
        ))
        .header("content-type", "text/plain")
        .body(book.write())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

/// A zip that claims to unpack to more than the box will unpack, or holds too many parts, is
/// refused before anything is unpacked (a zip bomb sent as a workbook).
#[tokio::test]
async fn a_workbook_that_would_unpack_to_too_much_is_refused_unopened() {
    use std::io::Write;
    // Built before the box starts: seconds of deflating on this test's one thread would
    // outlast the box's keep-alive and leave the client a closed pooled connection.
    // 257 MiB of zeros deflate to a quarter of a megabyte.
    let mut bomb = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    bomb.start_file("xl/worksheets/sheet1.xml", options)
        .unwrap();
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..257 {
        bomb.write_all(&zeros).unwrap();
    }
    let bomb = bomb.finish().unwrap().into_inner();
    assert!(bomb.len() < 2 * 1024 * 1024, "{} bytes", bomb.len());
    let mut many = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for n in 0..2_001 {
        many.start_file(
            format!("part{n}.xml"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
    }
    let many = many.finish().unwrap().into_inner();

    let app = spawn_app().await;
    let production = show(&app).await;
    for (body, says) in [(bomb, "unpacks to"), (many, "parts")] {
        let response = app
            .client
            .post(format!(
                "{}/api/productions/{production}/workbook",
                app.address
            ))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["code"], "WORKBOOK_UNREADABLE");
        assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
    }
}
