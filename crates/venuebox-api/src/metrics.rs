//! `GET /metrics`: Prometheus text exposition (format 0.0.4), written by `prometheus-client`.
//!
//! Requests are counted by method, route pattern (`/api/sources/{key}`, never a uuid, so label
//! cardinality stays bounded) and status, with a latency histogram per route. Store, realtime
//! and database-size figures are read at scrape time from the counters their owners keep
//! (the writer's atomics, the rooms), so scraping costs the write path nothing.
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text::{CONTENT_TYPE, encode};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use venuebox_store::Store;

use crate::routes::server::ServerFacts;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The request metrics, kept from start; everything else is read at scrape time.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(|| Histogram::new(BUCKETS));
        let mut registry = Registry::default();
        registry.register(
            "venuebox_http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "venuebox_http_request_duration_seconds",
            "Time to answer, by method and route",
            latency.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
        }
    }
}

impl Metrics {
    fn observe(&self, method: String, route: String, status: u16, seconds: f64) {
        let route = RouteLabels { method, route };
        self.latency.get_or_create(&route).observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method: route.method,
                route: route.route,
                status,
            })
            .inc();
    }
}

/// Middleware: counts and times every request.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.call(req).await?.map_into_boxed_body();
    if let Some(metrics) = metrics {
        let route = route_label(response.request());
        metrics.observe(
            method,
            route,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}

/// The route a request matched, as its label: the pattern, with a family route's
/// `{family:(?:…)}` (every family of one route shape, see `routes::entities`) replaced by the
/// family matched — a name from the registry, so the labels stay a bounded set and read as
/// `/api/sources/{key}`.
fn route_label(request: &actix_web::HttpRequest) -> String {
    let Some(pattern) = request.match_pattern() else {
        return "unmatched".to_owned();
    };
    let family = request.match_info().get("family");
    match (pattern.find("{family:"), family) {
        (Some(start), Some(family)) => match pattern[start..].find('}') {
            Some(length) => format!(
                "{}{family}{}",
                &pattern[..start],
                &pattern[start + length + 1..]
            ),
            None => pattern,
        },
        _ => pattern,
    }
}

pub async fn expose(
    metrics: web::Data<Metrics>,
    store: web::Data<Store>,
    realtime: web::Data<venuebox_realtime::Realtime>,
    facts: web::Data<ServerFacts>,
    sync: web::Data<crate::sync_slot::SyncSlot>,
) -> HttpResponse {
    let stats = store.writer_stats();
    let counters = [
        (
            "venuebox_store_writes_total",
            "Writes committed (or refused) by the single writer.",
            stats.writes.load(Ordering::Relaxed) as f64,
        ),
        (
            "venuebox_store_commits_total",
            "Commits; writes per commit shows group commit at work.",
            stats.commits.load(Ordering::Relaxed) as f64,
        ),
        (
            "venuebox_store_flushes_total",
            "fsyncs of the write-ahead log; each makes one commit or more durable.",
            stats.flushes.load(Ordering::Relaxed) as f64,
        ),
        (
            "venuebox_store_commit_seconds_total",
            "Time spent in write batches, commit included.",
            stats.commit_micros_total.load(Ordering::Relaxed) as f64 / 1e6,
        ),
        (
            "venuebox_sync_failures_total",
            "Sync rounds or connection attempts that failed.",
            sync.engine().state().failures_total as f64,
        ),
        (
            "venuebox_realtime_evictions_total",
            "Realtime clients disconnected for not keeping up.",
            realtime.rooms.evictions() as f64,
        ),
    ];
    // Scrape-time figures go in a registry of constants made for this scrape.
    let mut now = Registry::default();
    for (name, help, value) in counters {
        let name = name.strip_suffix("_total").unwrap_or(name);
        now.register(name, help.trim_end_matches('.'), ConstCounter::new(value));
    }
    let database = store.path().to_owned();
    let bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", database.display())).ok())
        .map(|m| m.len())
        .sum();
    let status = sync.engine().status().await.ok();
    let queue = status.as_ref().map(|s| s.queue.clone()).unwrap_or_default();
    let oldest_age = queue
        .oldest_queued_at
        .as_deref()
        .and_then(venuebox_store::clock::parse_timestamp)
        .map(|at| {
            (venuebox_store::clock::now() - at)
                .as_seconds_f64()
                .max(0.0)
        })
        .unwrap_or(0.0);
    let online = status.as_ref().is_some_and(|s| s.state.online);
    let gauges = [
        (
            "venuebox_sync_queue_length",
            "Local changes waiting for the hub.",
            queue.queue_length as f64,
        ),
        (
            "venuebox_sync_oldest_queued_age_seconds",
            "Age of the oldest change waiting for the hub (0 when none).",
            oldest_age,
        ),
        (
            "venuebox_sync_conflicts_pending",
            "Conflicts waiting for a person to resolve them.",
            queue.conflicts_pending as f64,
        ),
        (
            "venuebox_sync_online",
            "1 while the hub is reachable.",
            f64::from(u8::from(online)),
        ),
        (
            "venuebox_realtime_connections",
            "Connected realtime clients.",
            realtime.rooms.connection_count() as f64,
        ),
        (
            "venuebox_database_bytes",
            "Size of the SQLite database and its WAL.",
            bytes as f64,
        ),
        (
            "venuebox_uptime_seconds",
            "Seconds since the box started.",
            facts.started.elapsed().as_secs_f64(),
        ),
    ];
    for (name, help, value) in gauges {
        now.register(name, help.trim_end_matches('.'), ConstGauge::new(value));
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &metrics.registry);
    let _ = encode(&mut out, &now);
    HttpResponse::Ok().content_type(CONTENT_TYPE).body(out)
}
