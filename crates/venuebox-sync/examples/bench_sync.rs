//! Push and pull rates against a local PostgreSQL hub (figures, not pass/fail).
//!
//! One node queues `N` changes (creates and updates of sources in one production), pushes
//! them to a fresh hub database, and a second node pulls them. Run by `scripts/bench-sync.sh`:
//!
//!     cargo run --release --features testkit --example bench_sync -- 10000
use std::time::{Duration, Instant};

use serde_json::json;
use venuebox_store::{Store, StoreOptions, registry};
use venuebox_sync::testkit::TestHub;
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
        },
    )
}

#[tokio::main]
async fn main() {
    let changes: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let hub = TestHub::new().await;
    let venue_dir = tempfile::tempdir().unwrap();
    let office_dir = tempfile::tempdir().unwrap();
    let venue = engine(venue_dir.path(), &hub.url, "venue");
    let office = engine(office_dir.path(), &hub.url, "office");
    let store = venue.store().clone();
    store
        .create(
            registry().kind("production"),
            json!({"id": "bench", "name": "Bench"})
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
            let body = json!({"productionId": "bench", "name": format!("Source {n}"), "type": "Camera", "note": "x".repeat(40)});
            async move { store.create(sources, body.as_object().unwrap().clone()).await }
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
    let queued = store
        .read(venuebox_store::sync::queue_stats)
        .await
        .unwrap()
        .queue_length;

    let target = HubTarget::new(&hub.url, None).unwrap();
    let mut connection = target.connect().await.unwrap();
    venue.handshake(&connection).await.unwrap();
    let started = Instant::now();
    let (pushed, _) = venue.push_all(&mut connection).await.unwrap();
    let push_time = started.elapsed();

    let mut connection = target.connect().await.unwrap();
    office.handshake(&connection).await.unwrap();
    let started = Instant::now();
    let (pulled, _, _) = office.pull_all(&mut connection).await.unwrap();
    let pull_time = started.elapsed();

    println!("queued changes        {queued}");
    println!(
        "push (venue -> hub)   {pushed} changes in {:.2} s = {:.0} changes/s (batches of 500, one hub transaction each)",
        push_time.as_secs_f64(),
        pushed as f64 / push_time.as_secs_f64()
    );
    println!(
        "pull (hub -> office)  {pulled} changes in {:.2} s = {:.0} changes/s (pages of 1000, one SQLite transaction each)",
        pull_time.as_secs_f64(),
        pulled as f64 / pull_time.as_secs_f64()
    );
}
