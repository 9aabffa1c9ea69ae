//! `GET /api/admin/status`: what the status page shows beyond sync — where the box can be
//! reached (with a QR code per URL), who is connected, and how full the disk is. Admin only
//! (the access policy's `/admin` rule).
use std::path::Path;
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use venuebox_mdns::Advertiser;
use venuebox_store::{StoreError, backup};

use super::server::{ServerFacts, VERSION, reachable_urls};
use crate::auth::admin;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/status", admin(web::get().to(status)));
}

async fn status(
    config: web::Data<Arc<Config>>,
    facts: web::Data<ServerFacts>,
    advertiser: web::Data<Advertiser>,
    realtime: web::Data<venuebox_realtime::Realtime>,
) -> ApiResult<HttpResponse> {
    let urls = reachable_urls(&advertiser, config.server.listen, facts.port);
    let data_dir = config.storage.data_dir.clone();
    let backup_dir = config.backup_dir();
    let disk = web::block(move || disk_usage(&data_dir, &backup_dir))
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(json!({
        "nodeName": facts.node_name,
        "https": facts.https.as_ref().map(|(port, fingerprint)| json!({"port": port, "fingerprint": fingerprint})),
        "version": VERSION,
        "uptime": facts.started.elapsed().as_secs_f64(),
        "urls": urls
            .iter()
            .map(|url| json!({
                "url": url,
                "qr": format!("/admin/qr.svg?text={}", percent_encode(url)),
            }))
            .collect::<Vec<_>>(),
        "connectedClients": realtime.rooms.connection_count(),
        "disk": disk,
    })))
}

/// Sizes of the database (with its WAL), of the backups, and what the filesystem has left.
fn disk_usage(data_dir: &Path, backup_dir: &Path) -> Result<serde_json::Value, StoreError> {
    let file_size = |name: &str| {
        std::fs::metadata(data_dir.join(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let database = venuebox_store::DATABASE_FILE;
    let database_bytes = file_size(database)
        + file_size(&format!("{database}-wal"))
        + file_size(&format!("{database}-shm"));
    let backups = backup::list(backup_dir)?;
    let backup_bytes: u64 = backups.iter().map(|b| b.bytes).sum();
    let (available, total) = filesystem_bytes(data_dir)?;
    Ok(json!({
        "dataDir": data_dir.display().to_string(),
        "databaseBytes": database_bytes,
        "backupBytes": backup_bytes,
        "backupCount": backups.len(),
        "filesystemAvailableBytes": available,
        "filesystemTotalBytes": total,
    }))
}

/// Free and total bytes of the data folder's filesystem.
#[cfg(unix)]
fn filesystem_bytes(data_dir: &std::path::Path) -> Result<(Option<u64>, Option<u64>), StoreError> {
    let fs = rustix::fs::statvfs(data_dir)
        .map_err(|e| StoreError::Internal(format!("statvfs {}: {e}", data_dir.display())))?;
    Ok((
        Some(fs.f_bavail * fs.f_frsize),
        Some(fs.f_blocks * fs.f_frsize),
    ))
}

/// Not measured off Unix: the status page shows the disk as unknown.
#[cfg(not(unix))]
fn filesystem_bytes(_: &std::path::Path) -> Result<(Option<u64>, Option<u64>), StoreError> {
    Ok((None, None))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Deserialize)]
pub struct QrQuery {
    text: String,
}

/// Longest text a QR code is drawn for (a URL; keeps the symbol scannable from a phone).
const QR_MAX_TEXT: usize = 256;

/// `GET /admin/qr.svg?text=…`: the text as a QR code, drawn here so the page needs nothing
/// from the internet. A phone pointed at the status page opens the box.
pub async fn qr_svg(query: web::Query<QrQuery>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "private, max-age=3600"))
        .body(qr_code(&query.text)?))
}

/// `text` as a QR code in SVG, drawn here so no page needs anything from the internet.
pub fn qr_code(text: &str) -> Result<String, ApiError> {
    if text.is_empty() || text.len() > QR_MAX_TEXT {
        return Err(ApiError::BadRequest(format!(
            "\"text\" must be 1 to {QR_MAX_TEXT} bytes"
        )));
    }
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| ApiError::BadRequest(format!("cannot draw a QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(180, 180)
        .quiet_zone(true)
        .build())
}
