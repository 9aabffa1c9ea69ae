//! What the admin console and the setup wizard need beyond the rest of the API (admin only):
//! the box's name and hub (`/admin/node`, `/admin/hub/test`), the setup's state
//! (`/admin/setup`), the crew app (`/admin/app`), the recent log lines (`/admin/logs`), the
//! connected clients (`/admin/clients`) and a QR code of a sign-in link (`/admin/qr`).
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use venuebox_store::{Store, StoreError};
use venuebox_sync::HubTarget;

use super::server::ServerFacts;
use crate::app_install::AppSlot;
use crate::auth::admin;
use crate::box_settings::{BoxSettings, check_node_name};
use crate::config::{Config, mask_url};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ArchiveBody, JsonObject};
use crate::setup::SetupState;
use crate::sync_slot::SyncSlot;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/node")
            .route(admin(web::get().to(node)))
            .route(admin(web::put().to(update_node))),
    )
    .route("/admin/hub/test", admin(web::post().to(test_hub)))
    .route("/admin/setup", admin(web::get().to(setup)))
    .route(
        "/admin/setup/complete",
        admin(web::post().to(complete_setup)),
    )
    .service(
        web::resource("/admin/app")
            .route(admin(web::get().to(app)))
            .route(admin(web::post().to(install_app))),
    )
    .route("/admin/app/rollback", admin(web::post().to(rollback_app)))
    .route("/admin/logs", admin(web::get().to(logs)))
    .route("/admin/clients", admin(web::get().to(clients)))
    .route("/admin/qr", admin(web::post().to(qr)));
}

/// Only these keys in a body; anything else is named in a 400.
fn only_keys(
    body: &serde_json::Map<String, Value>,
    kind: &'static str,
    keys: &[&str],
) -> Result<(), StoreError> {
    match body.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(field) => Err(StoreError::UnknownField {
            kind,
            field: field.clone(),
        }),
        None => Ok(()),
    }
}

fn text_field(
    body: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<String>, StoreError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(StoreError::invalid(
            field,
            format!("Field \"{field}\" must be a string"),
        )),
    }
}

/// The box's name and hub: what runs now, what is saved, what an environment variable fixes.
async fn node(
    config: web::Data<Arc<Config>>,
    facts: web::Data<ServerFacts>,
    slot: web::Data<SyncSlot>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(describe_node(&config, &facts, &slot)?))
}

fn describe_node(
    config: &Config,
    facts: &ServerFacts,
    slot: &SyncSlot,
) -> Result<Value, StoreError> {
    let saved = BoxSettings::load(&config.storage.data_dir)?;
    let name = saved
        .node_name
        .clone()
        .filter(|_| !config.pinned_by_env("node.name"))
        .unwrap_or_else(|| facts.node_name.clone());
    let engine = slot.engine();
    Ok(json!({
        "nodeName": name,
        "runningNodeName": facts.node_name,
        // The name goes into the mDNS announcement, the status page and the hub's record of
        // this node, all made at start: a new one shows after a restart.
        "restartNeeded": name != facts.node_name,
        // Masked: the password is never shown back.
        "hubUrl": engine.state().hub,
        "hubConfigured": engine.is_configured(),
        "fixedByEnvironment": {
            "nodeName": config.pinned_by_env("node.name"),
            "hubUrl": config.pinned_by_env("hub.url"),
        },
        "setupCompletedAt": saved.setup_completed_at,
    }))
}

/// `PUT /admin/node {"nodeName"?, "hubUrl"?}`. The hub applies at once (the sync engine is
/// restarted on it; `""` turns sync off); the name at the next start.
async fn update_node(
    config: web::Data<Arc<Config>>,
    facts: web::Data<ServerFacts>,
    slot: web::Data<SyncSlot>,
    JsonObject(body): JsonObject,
) -> ApiResult<HttpResponse> {
    only_keys(&body, "node settings", &["nodeName", "hubUrl"])?;
    let name = text_field(&body, "nodeName")?
        .map(|name| check_node_name(&name))
        .transpose()?;
    let hub = text_field(&body, "hubUrl")?.map(|url| url.trim().to_owned());
    for (field, key, given) in [
        ("nodeName", "node.name", name.is_some()),
        ("hubUrl", "hub.url", hub.is_some()),
    ] {
        if given && config.pinned_by_env(key) {
            return Err(StoreError::invalid(
                field,
                format!("{field} is set by an environment variable on this box; change it there"),
            )
            .into());
        }
    }
    let target = match &hub {
        Some(url) if !url.is_empty() => Some(hub_target(url, &config)?),
        _ => None,
    };
    let data_dir = config.storage.data_dir.clone();
    let mut saved = BoxSettings::load(&data_dir)?;
    if let Some(name) = name {
        saved.node_name = Some(name);
    }
    if let Some(url) = &hub {
        // Restart the engine first: a download running refuses it, and nothing is saved.
        slot.replace_hub(target).await.map_err(ApiError::Sync)?;
        saved.hub_url = Some(url.clone());
        tracing::info!(hub = %mask_url(url), "hub changed from the console");
    }
    web::block(move || saved.save(&data_dir))
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(describe_node(&config, &facts, &slot)?))
}

fn hub_target(url: &str, config: &Config) -> Result<HubTarget, ApiError> {
    let ca_file = (!config.hub.ca_file.as_os_str().is_empty()).then(|| config.hub.ca_file.clone());
    HubTarget::new(url, ca_file).map_err(|e| {
        ApiError::Store(StoreError::invalid(
            "hubUrl",
            format!("Field \"hubUrl\" must be a PostgreSQL URL (postgres://user:password@host:5432/db): {e}"),
        ))
    })
}

/// `POST /admin/hub/test {"hubUrl"?}`: connects to the given hub (or the one in use) and says
/// whether it answered, without changing it. Unreachable is an answer (`ok: false`), not an
/// error: the URL was fine, the network was not.
async fn test_hub(
    config: web::Data<Arc<Config>>,
    slot: web::Data<SyncSlot>,
    body: Result<JsonObject, ApiError>,
) -> ApiResult<HttpResponse> {
    let body = match body {
        Ok(JsonObject(body)) => body,
        Err(ApiError::EmptyBody) => Default::default(),
        Err(other) => return Err(other),
    };
    only_keys(&body, "hub test", &["hubUrl"])?;
    let target = match text_field(&body, "hubUrl")?.map(|u| u.trim().to_owned()) {
        Some(url) if !url.is_empty() => hub_target(&url, &config)?,
        _ => slot
            .engine()
            .settings()
            .hub
            .clone()
            .ok_or(ApiError::Sync(venuebox_sync::SyncError::NotConfigured))?,
    };
    let outcome = tokio::time::timeout(Duration::from_secs(15), target.probe()).await;
    Ok(HttpResponse::Ok().json(match outcome {
        Ok(Ok(probe)) => json!({"ok": true, "hub": target.describe(), "probe": probe}),
        Ok(Err(err)) => json!({"ok": false, "hub": target.describe(), "error": err.to_string(), "code": err.code()}),
        Err(_) => json!({"ok": false, "hub": target.describe(), "error": "the hub did not answer within 15 s", "code": "SYNC_TIMEOUT"}),
    }))
}

/// Where the first-run setup stands, step by step.
async fn setup(
    store: web::Data<Store>,
    config: web::Data<Arc<Config>>,
    state: web::Data<SetupState>,
    slot: web::Data<SyncSlot>,
    app: web::Data<AppSlot>,
) -> ApiResult<HttpResponse> {
    let saved = BoxSettings::load(&config.storage.data_dir)?;
    let engine = slot.engine();
    let status = engine.status().await.map_err(ApiError::Sync)?;
    Ok(HttpResponse::Ok().json(json!({
        "pending": state.pending(),
        "completedAt": saved.setup_completed_at,
        "nodeName": saved.node_name.unwrap_or_else(|| config.node.name.clone()),
        "crewPassphraseSet": store.has_credential("editor").await?,
        "viewerPassphraseSet": store.has_credential("viewer").await?,
        "hubConfigured": engine.is_configured(),
        "productionsHeld": status.held_productions.len(),
        "appInstalled": app.dir().is_some(),
    })))
}

/// Finishes (or skips) the setup: `/` stops opening the wizard. It can be run again from
/// `/setup` at any time.
async fn complete_setup(
    config: web::Data<Arc<Config>>,
    state: web::Data<SetupState>,
) -> ApiResult<HttpResponse> {
    let data_dir = config.storage.data_dir.clone();
    let at = venuebox_store::clock::now_iso();
    let stamp = at.clone();
    web::block(move || {
        let mut saved = BoxSettings::load(&data_dir)?;
        saved.setup_completed_at = Some(stamp);
        saved.save(&data_dir)
    })
    .await
    .map_err(|e| StoreError::Internal(e.to_string()))??;
    state.finish();
    Ok(HttpResponse::Ok().json(json!({"completedAt": at})))
}

async fn app(slot: web::Data<AppSlot>) -> HttpResponse {
    HttpResponse::Ok().json(slot.describe())
}

/// `POST /admin/app` with the build as a `.zip` or `.tar.gz` body: checked, installed, served
/// at once; the app it replaces is kept for a rollback.
async fn install_app(
    slot: web::Data<AppSlot>,
    ArchiveBody(archive): ArchiveBody,
) -> ApiResult<HttpResponse> {
    let installing = slot.clone();
    let release = web::block(move || installing.install(&archive))
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))??;
    Ok(HttpResponse::Created().json(json!({"installed": release, "app": slot.describe()})))
}

async fn rollback_app(slot: web::Data<AppSlot>) -> ApiResult<HttpResponse> {
    let rolling = slot.clone();
    let release = web::block(move || rolling.rollback())
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(json!({"serving": release, "app": slot.describe()})))
}

#[derive(serde::Deserialize)]
struct LogQuery {
    limit: Option<usize>,
}

async fn logs(query: web::Query<LogQuery>) -> HttpResponse {
    let limit = query.limit.unwrap_or(200).min(crate::log_tail::KEPT_LINES);
    HttpResponse::Ok().json(json!({"lines": crate::log_tail::recent(limit)}))
}

async fn clients(realtime: web::Data<venuebox_realtime::Realtime>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"clients": realtime.rooms.clients()}))
}

/// `POST /admin/qr {"text"}`: a QR code as SVG, for text that must not travel in a URL (a
/// device token's sign-in link: a query string ends up in logs and browser history).
async fn qr(JsonObject(body): JsonObject) -> ApiResult<HttpResponse> {
    only_keys(&body, "QR code", &["text"])?;
    let text = text_field(&body, "text")?.ok_or_else(|| StoreError::MissingField {
        field: "text".into(),
    })?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "no-store"))
        .body(super::admin::qr_code(&text)?))
}
