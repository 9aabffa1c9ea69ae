//! Health and server information (contract §3.1).
use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde_json::json;
use venuebox_store::{Store, clock};

/// Facts about this running server, shared by the handlers.
#[derive(Debug, Clone)]
pub struct ServerFacts {
    pub started: Instant,
    pub port: u16,
    pub node_name: String,
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn configure(cfg: &mut web::ServiceConfig, prefixed: bool) {
    if prefixed {
        // `/api/health`: what the app calls at start-up.
        cfg.route("/health", web::get().to(api_health));
    } else {
        // `/health`: the probe the app's server switcher and scripts use; reports the database.
        cfg.route("/health", web::get().to(health));
    }
    cfg.route("/server/info", web::get().to(server_info)).route(
        "/server/global-reset",
        web::post().to(venuebox_realtime::global_reset),
    );
}

async fn health(store: web::Data<Store>, facts: web::Data<ServerFacts>) -> HttpResponse {
    match store.ping().await {
        Ok(latency) => HttpResponse::Ok().json(json!({
            "status": "healthy",
            "timestamp": clock::now_iso(),
            "uptime": facts.started.elapsed().as_secs_f64(),
            "database": {
                "connected": true,
                "latency": format!("{:.2}ms", latency.as_secs_f64() * 1000.0),
            },
            "nodeId": store.node_id(),
            "version": VERSION,
        })),
        Err(err) => unhealthy(err),
    }
}

async fn api_health(store: web::Data<Store>) -> HttpResponse {
    match store.ping().await {
        Ok(_) => HttpResponse::Ok().json(json!({
            "status": "ok",
            "timestamp": clock::now_iso(),
            "server": "Venuebox",
            "version": VERSION,
        })),
        Err(err) => unhealthy(err),
    }
}

/// 503 when the database does not answer (contract §3.1).
fn unhealthy(err: venuebox_store::StoreError) -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({
        "status": "unhealthy",
        "timestamp": clock::now_iso(),
        "error": format!("database check failed: {err}"),
        "code": "DATABASE_UNAVAILABLE",
    }))
}

async fn server_info(
    store: web::Data<Store>,
    facts: web::Data<ServerFacts>,
    realtime: web::Data<venuebox_realtime::Realtime>,
) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "serverName": facts.node_name,
        "port": facts.port,
        // Filled once the mDNS announcer (issue #6) advertises the box.
        "addresses": [],
        "isLANServer": false,
        "uptime": facts.started.elapsed().as_secs_f64(),
        "nodeId": store.node_id(),
        "connectedClients": realtime.hub.connection_count(),
        "version": VERSION,
    }))
}
