//! Running an import's plan: every change through the same create, update and delete as the
//! API (outbox entry, field clocks, realtime event), in one transaction — a refused write
//! anywhere leaves the production exactly as it was.
use serde_json::Value;

use super::Sheet;
use super::plan::{Op, plan};
use super::report::{ImportReport, OnConflict, Options};
use crate::codec;
use crate::entities::{self, CreateOptions};
use crate::error::{Result, StoreError};
use crate::model::Actor;
use crate::writer::WriteTx;

/// Imports `sheets` into production `production_id` ([`plan`]), unless the plan has
/// conflicts and `options` says to refuse them: then nothing is written and the report says
/// why.
pub fn import(
    tx: &mut WriteTx<'_>,
    production_id: &str,
    sheets: &[Sheet],
    options: &Options,
) -> Result<ImportReport> {
    let (mut report, ops) = plan(tx.conn(), production_id, sheets, options)?;
    if options.dry_run
        || (options.on_conflict == OnConflict::Refuse && !report.conflicts.is_empty())
    {
        return Ok(report);
    }
    for op in ops {
        match op {
            Op::Create {
                kind,
                uuid,
                body,
                origin,
                report_at,
                remember,
            } => {
                let entity = codec::decode_body(kind, body)
                    .and_then(|mut decoded| {
                        decoded.actor = options.actor.clone();
                        entities::create(
                            tx,
                            kind,
                            decoded,
                            CreateOptions {
                                uuid,
                                ..CreateOptions::default()
                            },
                        )
                    })
                    .map_err(|err| refused(&origin.problem(&err), err))?;
                if let Some((sheet_row, prints)) = remember
                    && !report.export_id.is_empty()
                {
                    tx.conn()
                        .prepare_cached(
                            "INSERT OR REPLACE INTO workbook_imports \
                             (export_id, sheet, sheet_row, uuid, prints, imported_at) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(rusqlite::params![
                            report.export_id,
                            origin.sheet,
                            sheet_row as i64,
                            entity.uuid,
                            prints,
                            crate::clock::now_iso()
                        ])?;
                }
                if let Some(row) = report
                    .sheets
                    .get_mut(report_at.0)
                    .and_then(|s| s.created.get_mut(report_at.1))
                {
                    row.uuid = Some(entity.uuid.clone());
                    row.id = entity.data.get("id").cloned().unwrap_or(Value::Null);
                }
            }
            Op::Update {
                kind,
                key,
                version,
                body,
                restore,
                origin,
            } => {
                codec::decode_body(kind, body)
                    .and_then(|mut decoded| {
                        decoded.version = Some(version);
                        decoded.actor = options.actor.clone();
                        if restore {
                            decoded.is_deleted = Some(false);
                        }
                        entities::update(tx, kind, &key, decoded)
                    })
                    .map_err(|err| refused(&origin.problem(&err), err))?;
            }
            Op::Delete { kind, key, origin } => {
                let actor = Actor {
                    id: options.actor.clone(),
                    name: None,
                };
                entities::delete(tx, kind, &key, actor)
                    .map_err(|err| refused(&origin.problem(&err), err))?;
            }
        }
    }
    report.applied = true;
    Ok(report)
}

/// A write the store refused, as the workbook problem it is (a broken database stays what it
/// is: a 500, not the user's cell).
fn refused(problem: &super::CellProblem, err: StoreError) -> StoreError {
    match err {
        StoreError::Sqlite(_)
        | StoreError::Io(_)
        | StoreError::Corrupt(_)
        | StoreError::Internal(_)
        | StoreError::Closed
        | StoreError::Unavailable(_) => err,
        _ => StoreError::Workbook(vec![problem.clone()]),
    }
}

impl crate::Store {
    /// Imports an edited workbook of a production ([`import`]); a dry run only reads.
    pub async fn import_workbook(
        &self,
        production_id: String,
        sheets: Vec<Sheet>,
        options: Options,
    ) -> Result<ImportReport> {
        if options.dry_run {
            return self
                .read(move |conn| {
                    plan(conn, &production_id, &sheets, &options).map(|(report, _)| report)
                })
                .await;
        }
        self.write(move |tx| import(tx, &production_id, &sheets, &options))
            .await
    }
}
