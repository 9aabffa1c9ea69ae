//! `GET /api/productions/:id/export[?format=xlsx]` and `POST /api/productions/import` (registered before the
//! productions family, whose scope would otherwise claim these paths).
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use venuebox_store::{Store, StoreError};

use crate::auth::{editor, viewer};
use crate::error::ApiResult;
use crate::extract::JsonObject;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/productions/import", editor(web::post().to(import)))
        .route("/productions/{id}/export", viewer(web::get().to(export)));
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

const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// `?format=json` (default): the document `import` reads back. `?format=xlsx`: a workbook
/// with a sheet per kind, for people (it is not read back).
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
