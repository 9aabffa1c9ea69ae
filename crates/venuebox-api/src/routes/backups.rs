//! `GET|POST /api/admin/backups`: list the snapshots, take one now (admin).
use std::path::PathBuf;

use actix_web::{HttpResponse, web};
use serde_json::json;
use venuebox_store::{Store, StoreError, backup};

use crate::auth::admin;
use crate::error::ApiResult;

/// Where this box keeps its backups.
#[derive(Debug, Clone)]
pub struct BackupDir(pub PathBuf);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/backups")
            .route(admin(web::get().to(list)))
            .route(admin(web::post().to(take))),
    );
}

async fn list(dir: web::Data<BackupDir>) -> ApiResult<HttpResponse> {
    let dir = dir.0.clone();
    let files = web::block(move || backup::list(&dir))
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(json!({"backups": files})))
}

async fn take(store: web::Data<Store>, dir: web::Data<BackupDir>) -> ApiResult<HttpResponse> {
    let file = store.backup_to(dir.0.clone()).await?;
    Ok(HttpResponse::Created().json(file))
}
