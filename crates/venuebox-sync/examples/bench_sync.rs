//! Sync figures against a local PostgreSQL hub, each with its target (issue #15). Every change
//! reaches the hub through the real push path of a node (with its clocks), never by SQL.
//!
//! 1. push on loopback: a node queues `N` changes (creates and updates of sources) and pushes;
//! 2. push through a 100 ms round trip (the test proxy's delay line): another node, `N` more;
//! 3. a node whose link is blackholed mid-push: how long another node's push waits;
//! 4. pull: a fresh node pulls all `2N` changes.
//!
//! Run by `scripts/bench-sync.sh`:
//!
//!     cargo run --release --features testkit --example bench_sync -- 10000
use std::time::{Duration, Instant};

use serde_json::json;
use venuebox_store::{Store, StoreOptions, registry};
use venuebox_sync::testkit::{Proxy, ProxyMode, TestHub};
use venuebox_sync::{HubTarget, ScopeMode, SyncEngine, SyncSettings};

fn engine(dir: &std::path::Path, url: &str, name: &str) -> SyncEngine {
    let store = Store::open(dir, StoreOptions::default()).expect("store opens");
    SyncEngine::manual(
        store,
        SyncSettings {
            hub: Some(HubTarget::new(url, None).expect("hub URL")),
            node_name: name.into(),
            interval: Duration::from_secs(3600),
            scope: ScopeMode::All,
            backup_dir: None,
            call_timeout: venuebox_sync::engine::CALL_TIMEOUT,
        },
    )
}

/// Queues `changes` changes on the node: half creates of sources, half updates of them.
async fn queue(engine: &SyncEngine, production: &str, changes: usize) -> i64 {
    let store = engine.store().clone();
    store
        .create(
            registry().kind("production"),
            json!({"id": production, "name": production})
                .as_object()
                .unwrap()
                .clone(),
        )
        .await
        .unwrap();
    let sources = registry().kind("source");
    let creates = changes / 2;
    let mut uuids = Vec::with_capacity(creates);
    for chunk in (0..creates).collect::<Vec<_>>().chunks(200) {
        let writes = chunk.iter().map(|n| {
            let store = store.clone();
            let body = json!({"productionId": production, "name": format!("Source {n}"),
                "type": "Camera", "note": "x".repeat(40)});
            async move {
                store
                    .create(sources, body.as_object().unwrap().clone())
                    .await
            }
        });
        for created in futures_util::future::join_all(writes).await {
            uuids.push(created.unwrap()["uuid"].as_str().unwrap().to_owned());
        }
    }
    for chunk in uuids.chunks(200) {
        let writes = chunk.iter().map(|uuid| {
            let store = store.clone();
            let uuid = uuid.clone();
            async move {
                store
                    .update(
                        sources,
                        uuid,
                        json!({"note": "moved to rack B"})
                            .as_object()
                            .unwrap()
                            .clone(),
                    )
                    .await
            }
        });
        for updated in futures_util::future::join_all(writes).await {
            updated.unwrap();
        }
    }
    store.queue_stats().await.unwrap().queue_length
}

/// Pushes the node's whole queue; returns (changes, seconds, batch size it ended at).
async fn push(engine: &SyncEngine, url: &str) -> (usize, f64, usize) {
    let mut connection = HubTarget::new(url, None).unwrap().connect().await.unwrap();
    engine.handshake(&connection).await.unwrap();
    let started = Instant::now();
    let (pushed, _) = engine.push_all(&mut connection).await.unwrap();
    (
        pushed,
        started.elapsed().as_secs_f64(),
        engine.push_batch_size(),
    )
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

#[tokio::main]
async fn main() {
    let changes: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let hub = TestHub::new().await;
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();

    // 1. Loopback.
    let venue = engine(dirs[0].path(), &hub.url, "venue");
    let queued = queue(&venue, "loopback", changes).await;
    let (pushed, seconds, batch) = push(&venue, &hub.url).await;
    let loopback = pushed as f64 / seconds;
    println!(
        "push, loopback          {pushed} of {queued} changes in {seconds:.2} s = {loopback:.0} changes/s \
         (target >= 10,000: {}; batches grew to {batch})",
        verdict(loopback >= 10_000.0)
    );

    // 2. A 100 ms round trip.
    let proxy = Proxy::start().await;
    let slow_url = hub.url_via(&proxy);
    let hotspot = engine(dirs[1].path(), &slow_url, "hotspot");
    let queued = queue(&hotspot, "hotspot", changes).await;
    proxy.set_rtt(Duration::from_millis(100));
    let turns = proxy.turns();
    let (pushed, seconds, batch) = push(&hotspot, &slow_url).await;
    let slow = pushed as f64 / seconds;
    println!(
        "push, 100 ms RTT        {pushed} of {queued} changes in {seconds:.2} s = {slow:.0} changes/s, \
         {} round trips (target >= 2,000: {}; batches ended at {batch})",
        proxy.turns() - turns,
        verdict(slow >= 2_000.0)
    );
    proxy.set_rtt(Duration::ZERO);

    // 3. A blackholed box and another box's push.
    let dead_proxy = Proxy::start().await;
    let dead_url = hub.url_via(&dead_proxy);
    let dead = engine(dirs[2].path(), &dead_url, "dead-link");
    queue(&dead, "dead", 4000).await;
    let other = engine(dirs[3].path(), &hub.url, "other");
    queue(&other, "other", 200).await;
    let mut dead_connection = HubTarget::new(&dead_url, None)
        .unwrap()
        .connect()
        .await
        .unwrap();
    dead.handshake(&dead_connection).await.unwrap();
    let mut other_connection = HubTarget::new(&hub.url, None)
        .unwrap()
        .connect()
        .await
        .unwrap();
    other.handshake(&other_connection).await.unwrap();
    let before = dead_proxy.turns();
    let pushing = tokio::spawn(async move { dead.push_all(&mut dead_connection).await });
    while dead_proxy.turns() == before {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    dead_proxy.set(ProxyMode::Blackhole);
    let started = Instant::now();
    let (pushed, _) = other.push_all(&mut other_connection).await.unwrap();
    let waited = started.elapsed();
    pushing.abort();
    println!(
        "blackholed box          another box pushed {pushed} changes in {:.0} ms while a box's \
         link was dead mid-push (target < 5 s: {})",
        waited.as_secs_f64() * 1000.0,
        verdict(waited < Duration::from_secs(5))
    );

    // 4. Pull everything on a fresh node.
    let office = engine(dirs[4].path(), &hub.url, "office");
    let mut connection = HubTarget::new(&hub.url, None)
        .unwrap()
        .connect()
        .await
        .unwrap();
    office.handshake(&connection).await.unwrap();
    let started = Instant::now();
    let (pulled, _, _) = office.pull_all(&mut connection).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let pull = pulled as f64 / seconds;
    println!(
        "pull, loopback          {pulled} changes in {seconds:.2} s = {pull:.0} changes/s \
         (target >= 20,000: {})",
        verdict(pull >= 20_000.0)
    );
}
