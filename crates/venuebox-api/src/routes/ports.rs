//! Device ports by device (and their sync), and cables by port (contract §3.8, §3.9).
use actix_web::{HttpResponse, web};
use serde_json::json;
use venuebox_store::{Store, entities, ports, registry};

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
    let device_uuid = device_uuid.into_inner();
    let rows = store
        .read(move |conn| {
            entities::list_by_field(
                conn,
                registry().kind("devicePort"),
                &["device_uuid"],
                &device_uuid,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(rows))
}

async fn sync_ports(
    store: web::Data<Store>,
    device_uuid: web::Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<HttpResponse> {
    let (production_id, display_id, port_list) = ports::parse_sync_body(body)?;
    let device_uuid = device_uuid.into_inner();
    let rows = store
        .write(move |tx| {
            ports::sync_device_ports(
                tx,
                &device_uuid,
                &production_id,
                display_id.as_deref(),
                port_list,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(rows))
}

async fn delete_ports_of_device(
    store: web::Data<Store>,
    device_uuid: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let device_uuid = device_uuid.into_inner();
    let count = store
        .write(move |tx| ports::delete_device_ports(tx, &device_uuid))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"success": true, "deleted": count})))
}

async fn cables_of_port(
    store: web::Data<Store>,
    port_uuid: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let port_uuid = port_uuid.into_inner();
    let rows = store
        .read(move |conn| {
            entities::list_by_field(
                conn,
                registry().kind("cable"),
                &["output_port_uuid", "input_port_uuid"],
                &port_uuid,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(rows))
}
