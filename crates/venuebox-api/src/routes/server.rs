//! Health and server information (docs/contract.md §3.1).
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::auth::{admin, public, viewer};
use actix_web::{HttpResponse, web};
use serde_json::json;
use venuebox_mdns::Advertiser;
use venuebox_store::{Store, clock};

/// Facts about this running server, shared by the handlers.
#[derive(Debug, Clone)]
pub struct ServerFacts {
    pub started: Instant,
    pub port: u16,
    pub node_name: String,
    /// The HTTPS port and the certificate's SHA-256 fingerprint, when HTTPS is on.
    pub https: Option<(u16, String)>,
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where a person can reach the box: the mDNS host name while advertising, then every
/// address it listens on (all interfaces' when bound to 0.0.0.0 or ::).
pub fn reachable_urls(advertiser: &Advertiser, listen: SocketAddr, port: u16) -> Vec<String> {
    let url = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{port}/"),
        IpAddr::V6(v6) => format!("http://[{v6}]:{port}/"),
    };
    if !listen.ip().is_unspecified() {
        return vec![url(listen.ip())];
    }
    let status = advertiser.status();
    let mut urls = Vec::new();
    if status.advertising {
        urls.push(format!("http://{}:{port}/", status.hostname));
    }
    let addresses = if status.addresses.is_empty() {
        venuebox_mdns::local_addresses(&venuebox_mdns::MdnsSettings::default())
    } else {
        status.addresses
    };
    urls.extend(addresses.into_iter().map(url));
    urls
}

pub fn configure(cfg: &mut web::ServiceConfig, prefixed: bool) {
    if prefixed {
        // `/api/health`: what the app calls at start-up.
        cfg.route("/health", public(web::get().to(api_health)));
    } else {
        // `/health`: the probe the app's server switcher and scripts use; reports the database.
        cfg.route("/health", public(web::get().to(health)));
    }
    cfg.route("/server/info", viewer(web::get().to(server_info)))
        .route(
            "/server/global-reset",
            admin(web::post().to(venuebox_realtime::global_reset)),
        )
        .route("/server/advertise", admin(web::post().to(advertise)))
        .route(
            "/server/stop-advertising",
            admin(web::post().to(stop_advertising)),
        )
        .route("/server/discover", viewer(web::get().to(discover)));
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
        })),
        Err(err) => unhealthy(err),
    }
}

/// 503 when the database does not answer (docs/contract.md §3.1).
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
    advertiser: web::Data<Advertiser>,
) -> HttpResponse {
    let mdns = advertiser.status();
    // As the old server: addresses only while advertising (docs/contract.md §3.1).
    let addresses: Vec<String> = if mdns.advertising {
        mdns.addresses
            .iter()
            .filter(|a| a.is_ipv4())
            .map(ToString::to_string)
            .collect()
    } else {
        Vec::new()
    };
    HttpResponse::Ok().json(json!({
        "serverName": if mdns.advertising { mdns.instance_name.clone() } else { facts.node_name.clone() },
        "port": facts.port,
        "httpsPort": facts.https.as_ref().map(|(port, _)| port),
        "tlsFingerprint": facts.https.as_ref().map(|(_, fingerprint)| fingerprint),
        "addresses": addresses,
        "isLANServer": mdns.advertising,
        "hostname": mdns.hostname,
        "uptime": facts.started.elapsed().as_secs_f64(),
        "nodeId": store.node_id(),
        "connectedClients": realtime.rooms.connection_count(),
        "version": VERSION,
    }))
}

/// `POST /api/server/advertise`: starts the mDNS announcement.
async fn advertise(advertiser: web::Data<Advertiser>) -> HttpResponse {
    let advertiser = advertiser.get_ref().clone();
    match web::block(move || advertiser.start()).await {
        Ok(Ok(status)) => HttpResponse::Ok().json(json!({
            "success": true,
            "message": "Server is now advertising on LAN",
            "name": status.instance_name,
            "hostname": status.hostname,
        })),
        Ok(Err(err)) => mdns_unavailable(&err.to_string()),
        Err(err) => mdns_unavailable(&err.to_string()),
    }
}

/// `POST /api/server/stop-advertising`: says goodbye on the LAN.
async fn stop_advertising(advertiser: web::Data<Advertiser>) -> HttpResponse {
    let advertiser = advertiser.get_ref().clone();
    let _ = web::block(move || advertiser.stop()).await;
    HttpResponse::Ok().json(json!({"success": true, "message": "Stopped advertising"}))
}

#[derive(Debug, serde::Deserialize)]
struct DiscoverQuery {
    timeout: Option<u64>,
}

/// `GET /api/server/discover?timeout=ms` (default 5000, at most 30000): boxes on the LAN.
async fn discover(
    query: web::Query<DiscoverQuery>,
    settings: web::Data<venuebox_mdns::MdnsSettings>,
    advertiser: web::Data<Advertiser>,
    facts: web::Data<ServerFacts>,
    store: web::Data<Store>,
) -> HttpResponse {
    let timeout =
        std::time::Duration::from_millis(query.timeout.unwrap_or(5000).clamp(100, 30_000));
    let settings = settings.get_ref().clone();
    match web::block(move || venuebox_mdns::discover(timeout, &settings)).await {
        Ok(Ok(mut found)) => {
            // The announcer does not hear itself (multicast loop is off), so the answering box
            // adds itself, as the contract's list includes it.
            let own = advertiser.status();
            if own.advertising
                && !found
                    .iter()
                    .any(|s| s.node_id.as_deref() == Some(store.node_id()))
            {
                found.insert(
                    0,
                    venuebox_mdns::Discovered {
                        name: own.instance_name,
                        host: own.hostname,
                        port: facts.port,
                        addresses: own
                            .addresses
                            .iter()
                            .filter(|a| a.is_ipv4())
                            .map(ToString::to_string)
                            .collect(),
                        node_id: Some(store.node_id().to_owned()),
                        version: Some(VERSION.to_owned()),
                    },
                );
            }
            let servers: Vec<_> = found
                .into_iter()
                .map(|s| {
                    json!({"name": s.name, "host": s.host, "port": s.port, "addresses": s.addresses,
                                "nodeId": s.node_id, "version": s.version})
                })
                .collect();
            HttpResponse::Ok().json(json!({"servers": servers}))
        }
        Ok(Err(err)) => mdns_unavailable(&err.to_string()),
        Err(err) => mdns_unavailable(&err.to_string()),
    }
}

fn mdns_unavailable(reason: &str) -> HttpResponse {
    tracing::warn!(%reason, "mDNS unavailable");
    HttpResponse::ServiceUnavailable().json(json!({
        "error": format!("mDNS is not available on this box: {reason}"),
        "code": "MDNS_UNAVAILABLE",
    }))
}
