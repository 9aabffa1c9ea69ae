//! `/api/sync/*`: the sync status, the conflict log and its resolution, "sync now", and the
//! sync log. The engine does the work (`venuebox-sync`); these handlers only ask it.
use crate::sync_slot::SyncSlot;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use venuebox_store::Resolution;
use venuebox_store::Store;

use crate::auth::{admin, editor, viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonObject;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/sync/status", viewer(web::get().to(status)))
        .route("/sync/conflicts", viewer(web::get().to(conflicts)))
        // Resolving a conflict is an edit of show data; every other sync action is the admin's.
        .route(
            "/sync/conflicts/{id}/resolve",
            editor(web::post().to(resolve)),
        )
        .route("/sync/now", admin(web::post().to(now)))
        .route("/sync/adopt-hub", admin(web::post().to(adopt_hub)))
        .route("/sync/productions", viewer(web::get().to(hub_productions)))
        .route(
            "/sync/production/{id}/download",
            admin(web::post().to(download)),
        )
        .route("/sync/production/{id}/lock", admin(web::post().to(lock)))
        .route(
            "/sync/production/{id}/unlock",
            admin(web::post().to(unlock)),
        )
        .route("/sync/log", viewer(web::get().to(log)));
}

/// The longest `GET /api/sync/status?after=…` waits for a change (`waitMs` is capped here).
const STATUS_WAIT_MAX_MS: u64 = 10_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusQuery {
    /// A `version` from an earlier answer: answer once the state has moved past it.
    after: Option<u64>,
    /// How long to wait for that, at most [`STATUS_WAIT_MAX_MS`]; none means at once.
    #[serde(default)]
    wait_ms: u64,
}

/// The sync status. With `after`, the answer waits (up to `waitMs`) for the state to change:
/// `venuebox download` follows a download this way and prints its summary the moment it is
/// verified, rather than on its next poll.
async fn status(
    slot: web::Data<SyncSlot>,
    query: web::Query<StatusQuery>,
) -> ApiResult<HttpResponse> {
    let engine = slot.engine();
    if let Some(after) = query.after {
        let wait = std::time::Duration::from_millis(query.wait_ms.min(STATUS_WAIT_MAX_MS));
        engine.changed_since(after, wait).await;
    }
    Ok(HttpResponse::Ok().json(engine.status().await?))
}

#[derive(Deserialize)]
struct ListQuery {
    /// Include resolved conflicts too.
    #[serde(default)]
    all: bool,
    limit: Option<usize>,
}

async fn conflicts(
    store: web::Data<Store>,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let all = query.all;
    let limit = query.limit.unwrap_or(500).min(5000);
    let list = store.conflicts(all, limit).await?;
    Ok(HttpResponse::Ok().json(json!({ "conflicts": list })))
}

/// `{"choice": "ours"}` keeps the value this box holds, `"theirs"` puts the overwritten value
/// back, `{"choice": "value", "value": ...}` writes a new one. The chosen value is a normal
/// change: it syncs, and laptops see it live.
async fn resolve(
    store: web::Data<Store>,
    id: web::Path<i64>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let mut body = body.0;
    for key in body.keys() {
        if key != "choice" && key != "value" {
            return Err(ApiError::Store(venuebox_store::StoreError::UnknownField {
                kind: "conflict resolution",
                field: key.clone(),
            }));
        }
    }
    let resolution = match body.get("choice").and_then(Value::as_str) {
        Some("ours") => Resolution::Ours,
        Some("theirs") => Resolution::Theirs,
        Some("value") => match body.remove("value") {
            Some(value) => Resolution::Value(value),
            None => {
                return Err(ApiError::Store(venuebox_store::StoreError::MissingField {
                    field: "value".into(),
                }));
            }
        },
        _ => {
            return Err(ApiError::Store(venuebox_store::StoreError::invalid(
                "choice",
                "Field \"choice\" must be \"ours\", \"theirs\" or \"value\"",
            )));
        }
    };
    let resolved = store.resolve_conflict(id.into_inner(), resolution).await?;
    Ok(HttpResponse::Ok().json(resolved))
}

async fn now(slot: web::Data<SyncSlot>) -> ApiResult<HttpResponse> {
    let engine = slot.engine();
    let report = engine.sync_now().await?;
    Ok(HttpResponse::Ok().json(report))
}

async fn log(store: web::Data<Store>) -> ApiResult<HttpResponse> {
    let entries = store.sync_log(200).await?;
    Ok(HttpResponse::Ok().json(json!({ "log": entries })))
}

/// After `HUB_EPOCH_CHANGED` or `HUB_RESTORED`: accept the hub as it is now and send it
/// everything this box holds. Refused while sync runs normally, so it cannot be pressed by
/// accident.
async fn adopt_hub(slot: web::Data<SyncSlot>) -> ApiResult<HttpResponse> {
    let engine = slot.engine();
    let state = engine.state();
    if !matches!(
        state.last_error_code.as_deref(),
        Some("HUB_EPOCH_CHANGED" | "HUB_RESTORED")
    ) {
        return Err(ApiError::Store(venuebox_store::StoreError::Conflict(
            "the hub has not changed; nothing to adopt".into(),
        )));
    }
    let queued = engine.adopt_new_hub().await?;
    Ok(HttpResponse::Ok().json(json!({ "queued": queued })))
}

/// The productions on the hub (name, client, venue, load-in, row counts, lock).
async fn hub_productions(slot: web::Data<SyncSlot>) -> ApiResult<HttpResponse> {
    let engine = slot.engine();
    let list = engine.hub_productions().await?;
    Ok(HttpResponse::Ok().json(json!({ "productions": list })))
}

/// Starts a pre-show download (`{"lock": true}` to lock the production to this box after);
/// answers 202 at once, progress in `GET /api/sync/status` (`download`).
async fn download(
    slot: web::Data<SyncSlot>,
    id: web::Path<String>,
    body: Result<JsonObject, ApiError>,
) -> ApiResult<HttpResponse> {
    let engine = slot.engine();
    // No body means the defaults; a body that is there must be a valid JSON object.
    let body = match body {
        Ok(body) => body.0,
        Err(ApiError::EmptyBody) => Default::default(),
        Err(other) => return Err(other),
    };
    for key in body.keys() {
        if key != "lock" {
            return Err(ApiError::Store(venuebox_store::StoreError::UnknownField {
                kind: "download",
                field: key.clone(),
            }));
        }
    }
    let lock = match body.get("lock") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => {
            return Err(ApiError::Store(venuebox_store::StoreError::invalid(
                "lock",
                "Field \"lock\" must be a boolean",
            )));
        }
    };
    if !engine.is_configured() {
        return Err(venuebox_sync::SyncError::NotConfigured.into());
    }
    if engine.is_downloading() {
        let running = engine
            .state()
            .download
            .map(|d| d.production_id)
            .unwrap_or_default();
        return Err(venuebox_sync::SyncError::Busy(running).into());
    }
    let production = id.into_inner();
    engine.note_download_queued(&production);
    let runner = engine.clone();
    let started = production.clone();
    tokio::spawn(async move {
        if let Err(err) = runner.download(&production, lock).await {
            tracing::warn!(%production, error = %err, "download failed (run it again to continue)");
        }
    });
    Ok(HttpResponse::Accepted().json(json!({ "started": started, "lock": lock })))
}

async fn lock(slot: web::Data<SyncSlot>, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let engine = slot.engine();
    let production = engine.set_lock(&id, true).await?;
    Ok(HttpResponse::Ok().json(json!({ "productionId": production, "locked": true })))
}

async fn unlock(slot: web::Data<SyncSlot>, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let engine = slot.engine();
    let production = engine.set_lock(&id, false).await?;
    Ok(HttpResponse::Ok().json(json!({ "productionId": production, "locked": false })))
}
