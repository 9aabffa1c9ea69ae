//! `venuebox import show.xlsx --production ID`: an edited workbook export back into the
//! running box (`POST /api/productions/:id/workbook`), its report printed for a person.
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

use super::client::admin_send;
use super::runtime;

/// How the import goes; the flags of `venuebox import` for a workbook.
pub struct WorkbookImport<'a> {
    pub production: &'a str,
    pub dry_run: bool,
    pub delete_missing: bool,
    pub on_conflict: &'a str,
}

pub fn import_workbook(url: &str, file: &Path, how: &WorkbookImport<'_>) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let path = format!(
        "/api/productions/{}/workbook?dryRun={}&deleteMissing={}&onConflict={}",
        percent_encoding::utf8_percent_encode(how.production, percent_encoding::NON_ALPHANUMERIC),
        how.dry_run,
        how.delete_missing,
        how.on_conflict
    );
    let (status, answer) = runtime()?.block_on(async {
        let response = admin_send(url, reqwest::Method::POST, &path, |request| {
            request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                )
                .body(bytes)
        })
        .await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or_default();
        anyhow::Ok((status, answer))
    })?;
    if let Some(problems) = answer["problems"].as_array() {
        for problem in problems {
            eprintln!("{}", problem_line(problem));
        }
        bail!(
            "nothing was imported: {} problem{} in {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            file.display()
        );
    }
    let report = if status.as_u16() == 409 {
        &answer["report"]
    } else if status.is_success() {
        &answer
    } else {
        bail!(
            "{status}: {}",
            answer["error"].as_str().unwrap_or("request failed")
        );
    };
    print!("{}", report_text(report));
    if status.as_u16() == 409 {
        bail!(
            "{}",
            answer["error"]
                .as_str()
                .unwrap_or("conflicts: nothing was applied")
        );
    }
    Ok(())
}

fn problem_line(problem: &Value) -> String {
    let mut place = problem["sheet"].as_str().unwrap_or("?").to_owned();
    if let Some(cell) = problem["cell"].as_str() {
        place.push('!');
        place.push_str(cell);
    } else if let Some(row) = problem["row"].as_u64() {
        place.push_str(&format!(" row {row}"));
    }
    if let Some(column) = problem["column"].as_str() {
        place.push_str(&format!(" ({column})"));
    }
    format!("{place}: {}", problem["message"].as_str().unwrap_or(""))
}

fn short(value: &Value) -> String {
    match value {
        Value::Null => "(empty)".into(),
        other => other.to_string(),
    }
}

/// The report as lines: per sheet what was (or would be) created, updated with each field's
/// old → new, deleted or kept; then the conflicts; then what happened.
pub fn report_text(report: &Value) -> String {
    let mut out = String::new();
    let empty = Vec::new();
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let name = |row: &Value| match (&row["id"], row["uuid"].as_str()) {
        (Value::String(id), _) => id.clone(),
        (_, Some(uuid)) => uuid.to_owned(),
        _ => "(new row)".into(),
    };
    let at = |row: &Value| {
        row["row"]
            .as_u64()
            .map(|r| format!("row {r}: "))
            .unwrap_or_default()
    };
    for sheet in report["sheets"].as_array().unwrap_or(&empty) {
        let (created, updated, deleted, kept) = (
            list(&sheet["created"]),
            list(&sheet["updated"]),
            list(&sheet["deleted"]),
            list(&sheet["missingKept"]),
        );
        out.push_str(&format!(
            "{}: {} created, {} updated, {} deleted\n",
            sheet["sheet"].as_str().unwrap_or("?"),
            created.len(),
            updated.len(),
            deleted.len()
        ));
        for row in &created {
            out.push_str(&format!("  + {}{}\n", at(row), name(row)));
        }
        for row in &updated {
            out.push_str(&format!("  ~ {}{}\n", at(row), name(row)));
            for change in list(&row["changes"]) {
                out.push_str(&format!(
                    "      {}: {} → {}\n",
                    change["column"].as_str().unwrap_or("?"),
                    short(&change["old"]),
                    short(&change["new"])
                ));
            }
        }
        for row in &deleted {
            out.push_str(&format!("  - {}\n", name(row)));
        }
        for row in &kept {
            out.push_str(&format!(
                "  = {} is not in the sheet; kept (--delete-missing deletes it)\n",
                name(row)
            ));
        }
    }
    let conflicts = list(&report["conflicts"]);
    if !conflicts.is_empty() {
        out.push_str(&format!("{} conflict(s):\n", conflicts.len()));
        for conflict in &conflicts {
            let mut place = conflict["sheet"].as_str().unwrap_or("?").to_owned();
            if let Some(cell) = conflict["cell"].as_str() {
                place.push_str(&format!("!{cell}"));
            } else if let Some(row) = conflict["row"].as_u64() {
                place.push_str(&format!(" row {row}"));
            }
            if let Some(column) = conflict["column"].as_str() {
                place.push_str(&format!(" ({column})"));
            }
            out.push_str(&format!(
                "  ! {place} {}: {}; box {} / sheet {} — {}\n",
                name(conflict),
                conflict["reason"].as_str().unwrap_or(""),
                short(&conflict["boxValue"]),
                short(&conflict["sheetValue"]),
                conflict["outcome"].as_str().unwrap_or("")
            ));
        }
    }
    for note in list(&report["notes"]) {
        out.push_str(&format!("note: {}\n", note.as_str().unwrap_or("")));
    }
    let totals = format!(
        "{} created, {} updated, {} deleted",
        report["created"], report["updated"], report["deleted"]
    );
    if report["dryRun"] == Value::Bool(true) {
        out.push_str(&format!("dry run, nothing applied: would be {totals}\n"));
    } else if report["applied"] == Value::Bool(true) {
        out.push_str(&format!("applied: {totals}\n"));
    } else {
        out.push_str("refused: nothing applied\n");
    }
    out
}
