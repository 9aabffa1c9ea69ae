//! `/settings`: the four ordered lists (docs/contract.md §3.12) and the key/value store.
//!
//! List routes are registered before the key/value routes so `/settings/frame-rates` is the
//! list and not a key. Reorder and restore-defaults share the `/{value}` path segment with
//! deleting an entry, told apart by method, so no entry name is unusable.
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use venuebox_store::settings::{self, SettingsList};
use venuebox_store::{Store, StoreError};

use crate::auth::{admin, viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonObject;

#[derive(Clone, Copy)]
struct ListRef(SettingsList);

pub fn configure(cfg: &mut web::ServiceConfig) {
    for list in settings::lists() {
        cfg.service(
            web::scope(&format!("/settings/{}", list.path()))
                .app_data(web::Data::new(ListRef(list)))
                .route("", viewer(web::get().to(list_values)))
                .route("", admin(web::post().to(add_value)))
                .service(
                    web::resource("/{value}")
                        .route(admin(web::delete().to(remove_value)))
                        .route(admin(web::put().to(reorder)))
                        .route(admin(web::post().to(restore_defaults))),
                ),
        );
    }
    cfg.service(web::resource("/settings").route(viewer(web::get().to(kv_all))))
        .service(
            web::resource("/settings/{key}")
                .route(viewer(web::get().to(kv_get)))
                .route(admin(web::post().to(kv_put)))
                .route(admin(web::put().to(kv_put)))
                .route(admin(web::delete().to(kv_delete))),
        );
}

async fn list_values(store: web::Data<Store>, list: web::Data<ListRef>) -> ApiResult<HttpResponse> {
    let values = store.settings_values(list.0).await?;
    Ok(HttpResponse::Ok().json(values))
}

async fn add_value(
    store: web::Data<Store>,
    list: web::Data<ListRef>,
    JsonObject(body): JsonObject,
) -> ApiResult<HttpResponse> {
    let row = store.add_setting(list.0, body).await?;
    Ok(HttpResponse::Ok().json(row))
}

async fn remove_value(
    store: web::Data<Store>,
    list: web::Data<ListRef>,
    value: web::Path<String>,
) -> ApiResult<HttpResponse> {
    store.remove_setting(list.0, value.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"success": true})))
}

async fn reorder(
    store: web::Data<Store>,
    list: web::Data<ListRef>,
    action: web::Path<String>,
    JsonObject(mut body): JsonObject,
) -> ApiResult<HttpResponse> {
    if action.as_str() != "reorder" {
        return Err(ApiError::RouteNotFound);
    }
    let list = list.0;
    let order: Vec<String> = body
        .remove(list.list_key())
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| {
            StoreError::invalid(
                list.list_key(),
                format!("Field \"{}\" must be an array of strings", list.list_key()),
            )
        })?;
    store.reorder_settings(list, order).await?;
    Ok(HttpResponse::Ok().json(json!({"success": true})))
}

async fn restore_defaults(
    store: web::Data<Store>,
    list: web::Data<ListRef>,
    action: web::Path<String>,
) -> ApiResult<HttpResponse> {
    if action.as_str() != "restore-defaults" {
        return Err(ApiError::RouteNotFound);
    }
    let values = store.restore_setting_defaults(list.0).await?;
    Ok(HttpResponse::Ok().json(values))
}

async fn kv_all(store: web::Data<Store>) -> ApiResult<HttpResponse> {
    let map = store.settings_map().await?;
    Ok(HttpResponse::Ok().json(Value::Object(map)))
}

async fn kv_get(store: web::Data<Store>, key: web::Path<String>) -> ApiResult<HttpResponse> {
    let key = key.into_inner();
    let map = store.settings_map().await?;
    match map.get(&key) {
        Some(value) => Ok(HttpResponse::Ok().json(value)),
        None => Err(StoreError::NotFound { label: "Setting" }.into()),
    }
}

async fn kv_put(
    store: web::Data<Store>,
    key: web::Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<HttpResponse> {
    let row = store.put_setting(key.into_inner(), body).await?;
    Ok(HttpResponse::Ok().json(row))
}

async fn kv_delete(store: web::Data<Store>, key: web::Path<String>) -> ApiResult<HttpResponse> {
    store.delete_setting(key.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"success": true})))
}
