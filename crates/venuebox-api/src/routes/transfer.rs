//! `GET /api/productions/:id/export[?format=xlsx]`, `POST /api/productions/import` (a JSON
//! export) and `POST /api/productions/:id/workbook` (an edited `.xlsx` export back), registered
//! before the productions family, whose scope would otherwise claim these paths.
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use venuebox_store::workbook::{OnConflict, Options};
use venuebox_store::{Store, StoreError};

use crate::auth::{editor, viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonObject, XLSX_TYPE, XlsxBody};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/productions/import", editor(web::post().to(import)))
        .route("/productions/{id}/export", viewer(web::get().to(export)))
        .route(
            "/productions/{id}/workbook",
            editor(web::post().to(import_workbook)),
        );
}

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default)]
    format: ExportFormat,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum ExportFormat {
    #[default]
    Json,
    Xlsx,
}

/// `?format=json` (default): the document `import` reads back. `?format=xlsx`: a workbook
/// with a sheet per kind, for people, which `POST …/workbook` reads back once edited.
async fn export(
    store: web::Data<Store>,
    id: web::Path<String>,
    query: web::Query<ExportQuery>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    match query.format {
        ExportFormat::Json => Ok(super::entities::paged_json_response(
            store.export_pages(id).await?,
        )),
        ExportFormat::Xlsx => {
            // The workbook is built whole (rust_xlsxwriter writes a zip at the end); a
            // production's sheets are a few MB at most, and only people ask for one.
            let document = store.export_production(id.clone()).await?;
            let bytes = web::block(move || crate::xlsx::workbook(&document))
                .await
                .map_err(|e| StoreError::Internal(e.to_string()))?
                .map_err(|e| StoreError::Internal(format!("writing the workbook: {e}")))?;
            let file = format!(
                "{}.xlsx",
                id.replace(
                    |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
                    "_"
                )
            );
            Ok(HttpResponse::Ok()
                .content_type(XLSX_TYPE)
                .insert_header((
                    "Content-Disposition",
                    format!("attachment; filename=\"{file}\""),
                ))
                .body(bytes))
        }
    }
}

async fn import(store: web::Data<Store>, JsonObject(body): JsonObject) -> ApiResult<HttpResponse> {
    let production = store.import_production(Value::Object(body)).await?;
    Ok(HttpResponse::Created().json(production))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WorkbookQuery {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    delete_missing: bool,
    #[serde(default)]
    on_conflict: OnConflict,
}

/// An edited `.xlsx` export of production `id`, back as ordinary changes
/// (`venuebox_store::workbook`). `200` with the report (applied, or what a `dryRun` would
/// do); `409 WORKBOOK_CONFLICT` with the report when cells changed both in the sheet and on
/// the box since the export and `onConflict` is `refuse` (nothing applied); `400
/// WORKBOOK_INVALID` naming every bad cell (nothing applied).
async fn import_workbook(
    store: web::Data<Store>,
    id: web::Path<String>,
    query: web::Query<WorkbookQuery>,
    XlsxBody(bytes): XlsxBody,
) -> ApiResult<HttpResponse> {
    let sheets = web::block(move || crate::xlsx::import::read_sheets(bytes))
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?
        .map_err(ApiError::UnreadableWorkbook)?;
    let options = Options {
        dry_run: query.dry_run,
        delete_missing: query.delete_missing,
        on_conflict: query.on_conflict,
        actor: Some("spreadsheet import".into()),
    };
    let report = store
        .import_workbook(id.into_inner(), sheets, options)
        .await?;
    if !report.applied && !report.dry_run {
        let count = report.conflicts.len();
        return Ok(HttpResponse::Conflict().json(serde_json::json!({
            "error": format!(
                "{count} cell{} changed both in the sheet and on the box since the export; \
                 nothing was applied. Re-import with onConflict=keep-box or take-sheet, or \
                 edit those cells",
                if count == 1 { "" } else { "s" }
            ),
            "code": "WORKBOOK_CONFLICT",
            "report": report,
        })));
    }
    Ok(HttpResponse::Ok().json(report))
}
