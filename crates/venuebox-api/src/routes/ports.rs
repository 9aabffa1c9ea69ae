//! Device ports by device (and their sync), and cables by port (docs/contract.md §3.8, §3.9).
use actix_web::{HttpResponse, web};
use serde_json::json;
use venuebox_store::Store;

use crate::auth::{editor, viewer};
use crate::error::ApiResult;
use crate::extract::JsonObject;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/device-ports/device/{device_uuid}")
            .route(viewer(web::get().to(ports_of_device)))
            .route(editor(web::delete().to(delete_ports_of_device))),
    )
    .service(
        web::resource("/device-ports/device/{device_uuid}/sync")
            .route(editor(web::post().to(sync_ports))),
    )
    .service(
        web::resource("/cables/port/{port_uuid}").route(viewer(web::get().to(cables_of_port))),
    );
}

async fn ports_of_device(
    store: web::Data<Store>,
    device_uuid: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let rows = store.ports_of_device(device_uuid.into_inner()).await?;
    Ok(HttpResponse::Ok().json(rows))
}

async fn sync_ports(
    store: web::Data<Store>,
    device_uuid: web::Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<HttpResponse> {
    let rows = store
        .sync_device_ports(device_uuid.into_inner(), body)
        .await?;
    Ok(HttpResponse::Ok().json(rows))
}

async fn delete_ports_of_device(
    store: web::Data<Store>,
    device_uuid: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let count = store.delete_device_ports(device_uuid.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"success": true, "deleted": count})))
}

async fn cables_of_port(
    store: web::Data<Store>,
    port_uuid: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let rows = store.cables_of_port(port_uuid.into_inner()).await?;
    Ok(HttpResponse::Ok().json(rows))
}
