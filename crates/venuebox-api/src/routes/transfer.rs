//! `GET /api/productions/:id/export` and `POST /api/productions/import` (registered before the
//! productions family, whose scope would otherwise claim these paths).
use actix_web::{HttpResponse, web};
use serde_json::Value;
use venuebox_store::{Store, transfer};

use crate::error::ApiResult;
use crate::extract::JsonObject;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/productions/import", web::post().to(import))
        .route("/productions/{id}/export", web::get().to(export));
}

async fn export(store: web::Data<Store>, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let document = store.read(move |conn| transfer::export(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(document))
}

async fn import(store: web::Data<Store>, JsonObject(body): JsonObject) -> ApiResult<HttpResponse> {
    let production = store
        .write(move |tx| transfer::import(tx, Value::Object(body)))
        .await?;
    Ok(HttpResponse::Created().json(production))
}
