//! `/api/admin/backups`: list the snapshots, take one now, download one, and stage one to be
//! restored at the next start (admin). A restore cannot swap the database under the running
//! box; staged, it is applied when the box next opens its data folder, and the database it
//! replaces is kept in `backups/` first.
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use venuebox_store::{Store, StoreError, backup};

use crate::auth::admin;
use crate::config::Config;
use crate::error::ApiResult;

/// Where this box keeps its backups.
#[derive(Debug, Clone)]
pub struct BackupDir(pub PathBuf);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/backups")
            .route(admin(web::get().to(list)))
            .route(admin(web::post().to(take))),
    )
    .route(
        "/admin/backups/staged",
        admin(web::delete().to(cancel_restore)),
    )
    .route("/admin/backups/{file}", admin(web::get().to(download)))
    .route(
        "/admin/backups/{file}/restore",
        admin(web::post().to(stage_restore)),
    );
}

fn blocking_failed(e: actix_web::error::BlockingError) -> StoreError {
    StoreError::Internal(e.to_string())
}

async fn list(
    dir: web::Data<BackupDir>,
    config: web::Data<Arc<Config>>,
) -> ApiResult<HttpResponse> {
    let dir = dir.0.clone();
    let data_dir = config.storage.data_dir.clone();
    let (files, staged) = web::block(move || {
        backup::list(&dir).map(|files| (files, backup::staged_restore(&data_dir)))
    })
    .await
    .map_err(blocking_failed)??;
    Ok(HttpResponse::Ok().json(json!({
        "backups": files,
        // The backup to be restored at the next start, by file name.
        "stagedRestore": staged.map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())),
    })))
}

async fn take(store: web::Data<Store>, dir: web::Data<BackupDir>) -> ApiResult<HttpResponse> {
    let file = store.backup_to(dir.0.clone()).await?;
    Ok(HttpResponse::Created().json(file))
}

/// A backup of this box by its listed name, never a path: anything not in the listing is 404.
async fn listed(dir: &BackupDir, name: String) -> Result<PathBuf, StoreError> {
    let folder = dir.0.clone();
    let files = web::block(move || backup::list(&folder))
        .await
        .map_err(blocking_failed)??;
    files
        .iter()
        .find(|f| f.file == name)
        .map(|f| dir.0.join(&f.file))
        .ok_or(StoreError::NotFound { label: "Backup" })
}

async fn download(
    req: HttpRequest,
    dir: web::Data<BackupDir>,
    file: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let name = file.into_inner();
    let path = listed(&dir, name.clone()).await?;
    let named = actix_files::NamedFile::open_async(&path)
        .await
        .map_err(StoreError::from)?
        .set_content_type("application/vnd.sqlite3".parse().expect("a media type"))
        .set_content_disposition(actix_web::http::header::ContentDisposition::attachment(
            name,
        ));
    Ok(named.into_response(&req))
}

async fn stage_restore(
    dir: web::Data<BackupDir>,
    config: web::Data<Arc<Config>>,
    file: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let name = file.into_inner();
    let path = listed(&dir, name.clone()).await?;
    let data_dir = config.storage.data_dir.clone();
    web::block(move || backup::stage_restore(&data_dir, &path))
        .await
        .map_err(blocking_failed)??;
    tracing::warn!(backup = %name, "restore staged: applied at the next start");
    Ok(HttpResponse::Ok().json(json!({
        "stagedRestore": name,
        "message": "Restart the box to restore this backup; the database it replaces is kept in backups/",
    })))
}

async fn cancel_restore(config: web::Data<Arc<Config>>) -> ApiResult<HttpResponse> {
    let data_dir = config.storage.data_dir.clone();
    let cancelled = web::block(move || backup::cancel_staged_restore(&data_dir))
        .await
        .map_err(blocking_failed)??;
    Ok(HttpResponse::Ok().json(json!({"cancelled": cancelled})))
}
