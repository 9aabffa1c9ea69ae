//! Sync against a real PostgreSQL hub: several nodes (each its own SQLite file) in one test,
//! a fresh hub database per test, a proxy that breaks the connection on command.
mod convergence;
mod download;
mod faults;
mod harness;
mod merge;

use std::time::Duration;

use harness::{Node, Proxy, ProxyMode, TestHub, as_hub_rows};
use serde_json::{Value, json};
use venuebox_sync::{ScopeMode, SyncEngine, SyncError};

async fn production(node: &Node, id: &str) {
    node.create(
        "production",
        json!({"id": id, "name": format!("Show {id}")}),
    )
    .await;
}

async fn source(node: &Node, production: &str, name: &str) -> String {
    let created = node
        .create(
            "source",
            json!({"productionId": production, "name": name, "type": "Laptop"}),
        )
        .await;
    created["uuid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_commits_with_its_outbox_entry_and_refused_ones_leave_none() {
    let hub = TestHub::new().await;
    let a = Node::new("a", &hub.url);
    production(&a, "p1").await;
    let uuid = source(&a, "p1", "Playback 1").await;
    a.update("source", &uuid, json!({"note": "left rack"}))
        .await
        .unwrap();
    // Refused: unknown production, bad field. Nothing of them reaches the outbox.
    assert!(
        a.store()
            .create(
                venuebox_store::registry().kind("source"),
                json!({"productionId": "nope", "name": "x", "type": "y"})
                    .as_object()
                    .unwrap()
                    .clone()
            )
            .await
            .is_err()
    );
    assert!(
        a.update("source", &uuid, json!({"hRes": "wide"}))
            .await
            .is_err()
    );
    assert_eq!(a.queue_length().await, 3, "production, source, note");
    let entries = a.store().unacked_entries(100).await.unwrap();
    let seqs: Vec<i64> = entries.iter().map(|e| e.node_seq).collect();
    assert_eq!(seqs, vec![1, 2, 3], "gap-free, in commit order");
    assert_eq!(
        entries[2].fields,
        *json!({"note": "left rack"}).as_object().unwrap()
    );
    assert_eq!(entries[2].bases["note"], entries[1].clocks["note"]);

    let report = a.sync(&hub.url).await.unwrap();
    assert_eq!(report.pushed, 3);
    assert_eq!(a.queue_length().await, 0);
    let on_hub = hub.rows("source").await;
    assert_eq!(on_hub[&uuid]["note"], "left rack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_reach_every_node_and_different_fields_of_one_row_both_survive() {
    let hub = TestHub::new().await;
    let a = Node::new("venue", &hub.url);
    let b = Node::new("office", &hub.url);
    production(&a, "p1").await;
    let uuid = source(&a, "p1", "Playback 1").await;
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    assert_eq!(b.rows("source").await[&uuid].0["name"], "Playback 1");

    // Apart: each edits a different field of the same row.
    a.update("source", &uuid, json!({"note": "from the venue"}))
        .await
        .unwrap();
    b.update("source", &uuid, json!({"hRes": 1920}))
        .await
        .unwrap();
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    a.sync(&hub.url).await.unwrap();
    for node in [&a, &b] {
        let row = &node.rows("source").await[&uuid].0;
        assert_eq!(row["note"], "from the venue", "{}", node.name);
        assert_eq!(row["h_res"], 1920, "{}", node.name);
        assert!(
            node.conflicts().await.is_empty(),
            "no conflict on different fields"
        );
    }
    assert_eq!(
        as_hub_rows(&a.rows("source").await),
        hub.rows("source").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_field_edited_in_two_places_keeps_the_loser_in_the_conflict_log() {
    let hub = TestHub::new().await;
    let a = Node::new("venue", &hub.url);
    let b = Node::new("office", &hub.url);
    production(&a, "p1").await;
    let uuid = source(&a, "p1", "Playback 1").await;
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();

    b.update("source", &uuid, json!({"name": "Office name"}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    a.update("source", &uuid, json!({"name": "Venue name"}))
        .await
        .unwrap();
    // The office pushes first; the venue's later edit wins by clock when it arrives.
    b.sync(&hub.url).await.unwrap();
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    for node in [&a, &b] {
        assert_eq!(node.rows("source").await[&uuid].0["name"], "Venue name");
        let conflicts = node.conflicts().await;
        assert_eq!(conflicts.len(), 1, "{}: {conflicts:?}", node.name);
        let conflict = &conflicts[0];
        assert_eq!(conflict.column, "name");
        assert_eq!(conflict.reason, "concurrent");
        assert_eq!(conflict.winner_value, "Venue name");
        assert_eq!(conflict.loser_value, "Office name");
        assert_eq!(conflict.winner_node.as_deref(), Some(a.store().node_id()));
        assert_eq!(conflict.loser_node.as_deref(), Some(b.store().node_id()));
        assert!(conflict.winner_hlc > conflict.loser_hlc);
    }

    // Resolving on the office node ("theirs": put the office value back) is itself a change.
    let id = b.conflicts().await[0].id;
    b.store()
        .resolve_conflict(id, venuebox_store::Resolution::Theirs)
        .await
        .unwrap();
    b.sync(&hub.url).await.unwrap();
    a.sync(&hub.url).await.unwrap();
    for node in [&a, &b] {
        assert_eq!(node.rows("source").await[&uuid].0["name"], "Office name");
        let conflict = &node.conflicts().await[0];
        assert_eq!(
            conflict.resolution.as_deref(),
            Some("theirs"),
            "{}",
            node.name
        );
    }
    // Resolving twice is refused.
    let again = b
        .store()
        .resolve_conflict(id, venuebox_store::Resolution::Ours)
        .await;
    assert!(matches!(
        again,
        Err(venuebox_store::StoreError::Conflict(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_answer_is_lost_after_the_commit_is_applied_exactly_once() {
    let hub = TestHub::new().await;
    let proxy = Proxy::start().await;
    let via_proxy = hub.url_via(&proxy);
    let a = Node::new("venue", &via_proxy);
    production(&a, "p1").await;
    for n in 0..20 {
        source(&a, "p1", &format!("Source {n}")).await;
    }
    // Create the hub's schema first: only the push's COMMIT is to be cut.
    venuebox_sync::HubTarget::new(&via_proxy, None)
        .unwrap()
        .connect()
        .await
        .unwrap();
    proxy.set(ProxyMode::CutAfterCommit);
    let lost = a.sync(&via_proxy).await;
    assert!(lost.is_err(), "the answer never arrived: {lost:?}");
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(a.queue_length().await, 21, "nothing acknowledged yet");
    let client = hub.client().await;
    let logged: i64 = client
        .query_one("SELECT count(*) FROM hub_changes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(logged, 21, "the hub did commit the batch");

    // The retry changes nothing on the hub and empties the queue.
    let report = a.sync(&via_proxy).await.unwrap();
    assert_eq!(report.pushed, 0, "already applied");
    assert_eq!(a.queue_length().await, 0);
    let rows = client
        .query(
            "SELECT origin_seq FROM hub_changes WHERE origin_node = $1 ORDER BY seq",
            &[&a.store().node_id()],
        )
        .await
        .unwrap();
    let seqs: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(seqs, (1..=21).collect::<Vec<_>>(), "no duplicate, no gap");
    assert_eq!(hub.rows("source").await.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_offline_for_the_whole_show_drains_its_queue_when_the_hub_returns() {
    let hub = TestHub::new().await;
    let proxy = Proxy::start().await;
    let via_proxy = hub.url_via(&proxy);
    proxy.set(ProxyMode::Down);
    let dir = tempfile::tempdir().unwrap();
    let store = venuebox_store::Store::open(dir.path(), Default::default()).unwrap();
    let mut settings = harness::settings("venue", &via_proxy, ScopeMode::All);
    settings.interval = Duration::from_millis(200);
    let (engine, task) = SyncEngine::start(store.clone(), settings);
    let node = Node {
        name: "venue".into(),
        _dir: tempfile::tempdir().unwrap(),
        engine: engine.clone(),
    };
    production(&node, "p1").await;
    for n in 0..300 {
        source(&node, "p1", &format!("Source {n}")).await;
    }
    let err = engine.sync_now().await.unwrap_err();
    assert!(matches!(err, SyncError::Unreachable(_)), "{err}");
    let status = engine.status().await.unwrap();
    assert!(!status.state.online);
    assert_eq!(status.queue.queue_length, 301);
    assert!(status.queue.oldest_queued_at.is_some());

    proxy.set(ProxyMode::Up);
    // The engine retries with backoff on its own; wait for the queue to drain.
    let mut drained = false;
    for _ in 0..300 {
        let status = engine.status().await.unwrap();
        if status.state.online && status.queue.queue_length == 0 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(drained, "{:?}", engine.status().await.unwrap());
    assert_eq!(hub.rows("source").await.len(), 300);
    engine.shutdown();
    task.await.unwrap();
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_box_sees_another_nodes_edit_promptly_through_listen_notify() {
    let hub = TestHub::new().await;
    let office = Node::new("office", &hub.url);
    production(&office, "p1").await;
    office.sync(&hub.url).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = venuebox_store::Store::open(dir.path(), Default::default()).unwrap();
    // An hour between polls: only NOTIFY can bring the change in time.
    let (engine, task) = SyncEngine::start(
        store.clone(),
        harness::settings("venue", &hub.url, ScopeMode::All),
    );
    engine.sync_now().await.unwrap();
    let mut events = store.subscribe();
    let uuid = source(&office, "p1", "From the office").await;
    office.sync(&hub.url).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let committed = events.recv().await.unwrap();
            if let Some(event) = committed.iter().find(|e| e.uuid == uuid) {
                return event.clone();
            }
        }
    })
    .await
    .expect("the pulled change is published like a local write");
    assert_eq!(event.operation, venuebox_store::Operation::Created);
    assert_eq!(event.entity["name"], "From the office");
    engine.shutdown();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_wins_over_a_concurrent_update_which_is_kept_as_a_conflict() {
    let hub = TestHub::new().await;
    let a = Node::new("venue", &hub.url);
    let b = Node::new("office", &hub.url);
    production(&a, "p1").await;
    let item = a.item("p1", "Check intercom").await;
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();

    // The office renames it; the venue, not knowing, deletes it. Both orders of arrival.
    b.update(
        "checklist-item",
        &item,
        json!({"title": "Check intercom + PL"}),
    )
    .await
    .unwrap();
    a.delete("checklist-item", &item).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    for node in [&a, &b] {
        assert!(
            !node.rows("checklist-item").await.contains_key(&item),
            "{}: {:?} {:?}",
            node.name,
            node.rows("checklist-item").await,
            node.store().unacked_entries(10).await
        );
        let conflicts = node.conflicts().await;
        assert_eq!(conflicts.len(), 1, "{}: {conflicts:?}", node.name);
        assert_eq!(conflicts[0].reason, "deleted");
        assert_eq!(conflicts[0].loser_value, "Check intercom + PL");
    }

    // An update arriving after the tombstone is refused and kept too; the row stays gone.
    let second = a.item("p1", "Walk the cable runs").await;
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    a.delete("checklist-item", &second).await.unwrap();
    b.update(
        "checklist-item",
        &second,
        json!({"title": "Walk them twice"}),
    )
    .await
    .unwrap();
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    a.sync(&hub.url).await.unwrap();
    for node in [&a, &b] {
        assert!(!node.rows("checklist-item").await.contains_key(&second));
        assert!(
            node.conflicts()
                .await
                .iter()
                .any(|c| c.uuid == second && c.loser_value == "Walk them twice"),
            "{}",
            node.name
        );
    }
    assert_eq!(b.queue_length().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_offline_longer_than_the_tombstone_window_must_download_again() {
    let hub = TestHub::new().await;
    let a = Node::new("office", &hub.url);
    let stale = Node::new("stored-in-a-case", &hub.url);
    production(&a, "p1").await;
    let item = a.item("p1", "Old").await;
    a.sync(&hub.url).await.unwrap();
    stale.sync(&hub.url).await.unwrap();
    // The office deletes the item; the stale box edits it, then sits in a road case.
    a.delete("checklist-item", &item).await.unwrap();
    a.sync(&hub.url).await.unwrap();
    stale
        .update(
            "checklist-item",
            &item,
            json!({"title": "Edited in the case"}),
        )
        .await
        .unwrap();
    // Months pass: the hub's window is shortened and everything older is purged.
    let client = hub.client().await;
    client
        .batch_execute(
            "UPDATE hub_meta SET value = '0' WHERE key = 'tombstone_window_secs'; \
             UPDATE hub_changes SET at = now() - interval '1 day'; \
             UPDATE hub_entities SET deleted_at = now() - interval '1 day' \
             WHERE deleted_at IS NOT NULL;",
        )
        .await
        .unwrap();
    let mut office_hub = a.connect(&hub.url).await.unwrap();
    let pruned_before = office_hub.prune().await.unwrap();
    assert!(pruned_before > 1);
    let err = stale.sync(&hub.url).await.unwrap_err();
    assert!(matches!(err, SyncError::Stale { .. }), "{err}");
    assert!(err.is_fatal());
    assert!(err.to_string().contains("download"), "{err}");
    // Nothing was resurrected: the hub has no such row, and the box kept its change queued.
    let tombstones: i64 = client
        .query_one(
            "SELECT count(*) FROM hub_entities WHERE uuid = $1",
            &[&item],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tombstones, 0, "the tombstone was purged");
    assert_eq!(stale.queue_length().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_hub_is_detected_and_sync_stops_instead_of_diverging() {
    let hub = TestHub::new().await;
    let a = Node::new("venue", &hub.url);
    production(&a, "p1").await;
    a.sync(&hub.url).await.unwrap();
    hub.recreate().await;
    source(&a, "p1", "After the restore").await;
    let err = a.sync(&hub.url).await.unwrap_err();
    assert!(matches!(err, SyncError::EpochMismatch { .. }), "{err}");
    assert!(err.is_fatal());
    assert_eq!(a.queue_length().await, 1, "the change stays queued");
    assert!(hub.rows("source").await.is_empty(), "nothing was pushed");

    // A person checks the hub and adopts it: everything the box holds goes to the new hub.
    let queued = a.engine.adopt_new_hub().await.unwrap();
    assert_eq!(queued, 2, "the production and the source");
    a.sync(&hub.url).await.unwrap();
    assert_eq!(a.queue_length().await, 0);
    assert_eq!(hub.rows("production").await.len(), 1);
    assert_eq!(hub.rows("source").await.len(), 1);
    let b = Node::new("office", &hub.url);
    b.sync(&hub.url).await.unwrap();
    assert_eq!(
        b.rows("source").await.len(),
        1,
        "other nodes get it from the new hub"
    );
    // Later changes continue the numbering the new hub expects.
    source(&a, "p1", "After adopting").await;
    a.sync(&hub.url).await.unwrap();
    assert_eq!(hub.rows("source").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_of_a_day_either_way_neither_wins_nor_loses_silently() {
    const DAY: i64 = 86_400_000;
    let hub = TestHub::new().await;
    let fast = Node::new("fast-clock", &hub.url);
    let slow = Node::new("slow-clock", &hub.url);
    let office = Node::new("office", &hub.url);
    fast.store().clock().set_skew_ms(DAY);
    slow.store().clock().set_skew_ms(-DAY);
    production(&office, "p1").await;
    let uuid = source(&office, "p1", "Original").await;
    for node in [&office, &fast, &slow] {
        node.sync(&hub.url).await.unwrap();
    }

    // 1. The fast box's edit is stamped with the hub's time on arrival, so an office edit
    //    made after it (in real time) wins, and the fast value is kept as a conflict.
    fast.update("source", &uuid, json!({"name": "Fast box"}))
        .await
        .unwrap();
    fast.sync(&hub.url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    office
        .update("source", &uuid, json!({"note": "unrelated"}))
        .await
        .unwrap();
    office
        .update("source", &uuid, json!({"name": "Office, later"}))
        .await
        .unwrap();
    office.sync(&hub.url).await.unwrap();
    fast.sync(&hub.url).await.unwrap();
    assert_eq!(fast.rows("source").await[&uuid].0["name"], "Office, later");
    let max_on_hub: String = hub
        .client()
        .await
        .query_one(
            "SELECT max(value) FROM hub_entities, jsonb_each_text(clocks)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let hub_ms: i64 = max_on_hub[..13].parse().unwrap();
    assert!(
        hub_ms < venuebox_store::clock::now_ms() + DAY / 2,
        "no clock a day ahead is stored on the hub: {max_on_hub}"
    );

    // 2. The slow box: an edit made after seeing the current value wins (its clock was
    //    pulled forward by what it saw); a concurrent one loses to the office but is logged.
    slow.sync(&hub.url).await.unwrap();
    slow.update("source", &uuid, json!({"name": "Slow box, after seeing"}))
        .await
        .unwrap();
    slow.sync(&hub.url).await.unwrap();
    office.sync(&hub.url).await.unwrap();
    assert_eq!(
        office.rows("source").await[&uuid].0["name"],
        "Slow box, after seeing"
    );
    office
        .update("source", &uuid, json!({"note": "office note"}))
        .await
        .unwrap();
    slow.update("source", &uuid, json!({"note": "slow note, concurrent"}))
        .await
        .unwrap();
    office.sync(&hub.url).await.unwrap();
    slow.sync(&hub.url).await.unwrap();
    office.sync(&hub.url).await.unwrap();
    for node in [&office, &slow, &fast] {
        node.sync(&hub.url).await.unwrap();
        let conflicts = node.conflicts().await;
        assert!(
            conflicts
                .iter()
                .any(|c| c.loser_value == "Fast box" && c.winner_value == "Office, later"),
            "{}: {conflicts:?}",
            node.name
        );
        assert!(
            conflicts.iter().any(|c| c.column == "note"
                && c.loser_value == "slow note, concurrent"
                && c.winner_value == "office note"),
            "{}: {conflicts:?}",
            node.name
        );
    }
    let skew = office
        .connect(&hub.url)
        .await
        .unwrap()
        .client()
        .query_one(
            "SELECT clock_skew_ms FROM hub_nodes WHERE name = 'fast-clock'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert!(
        skew > DAY - 60_000,
        "the hub records the fast box's skew: {skew}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_venue_box_pulls_only_the_productions_it_holds_plus_global_data() {
    let hub = TestHub::new().await;
    let office = Node::new("office", &hub.url);
    let venue = Node::with_scope("venue", &hub.url, ScopeMode::Held);
    production(&office, "ours").await;
    production(&office, "theirs").await;
    source(&office, "ours", "Ours").await;
    source(&office, "theirs", "Theirs").await;
    let spec = office
        .rows("equipment")
        .await
        .keys()
        .next()
        .unwrap()
        .clone();
    office
        .update(
            "equipment",
            &spec,
            json!({"model": "Renamed in the office"}),
        )
        .await
        .unwrap();
    office.sync(&hub.url).await.unwrap();
    venue.store().hold("ours".into()).await.unwrap();
    // The production header itself is in its production's scope, so holding before it
    // arrives is enough for the rows that follow it in the log.
    venue.sync(&hub.url).await.unwrap();
    let sources: Vec<Value> = venue
        .rows("source")
        .await
        .values()
        .map(|(data, _)| data["name"].clone())
        .collect();
    assert_eq!(sources, vec![json!("Ours")]);
    assert_eq!(
        venue.rows("equipment").await[&spec].0["model"],
        "Renamed in the office"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_verifies_the_hubs_certificate_over_tls() {
    let hub = TestHub::new().await;
    let ssl: String = hub
        .client()
        .await
        .query_one("SHOW ssl", &[])
        .await
        .unwrap()
        .get(0);
    let cert = std::path::Path::new("/etc/ssl/certs/ssl-cert-snakeoil.pem");
    if ssl != "on" || !cert.exists() {
        eprintln!("skipped: this PostgreSQL server has no TLS (Debian's default snakeoil setup)");
        return;
    }
    let url = format!(
        "{}?sslmode=require",
        hub.url.replace("127.0.0.1", "localhost")
    );
    // A certificate no known CA signed is refused…
    let refused = venuebox_sync::HubTarget::new(&url, None)
        .unwrap()
        .connect()
        .await
        .err()
        .expect("an unknown issuer is refused");
    assert!(matches!(refused, SyncError::Unreachable(_)), "{refused}");
    assert!(
        refused.to_string().to_lowercase().contains("certificate"),
        "{refused}"
    );
    // …and accepted with the CA file that signed it; the session is encrypted.
    let target = venuebox_sync::HubTarget::new(&url, Some(cert.to_owned())).unwrap();
    let connected = target.connect().await.unwrap();
    let encrypted: bool = connected
        .client()
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted);
    let node = Node::new("tls", &url);
    let mut engine_settings = harness::settings("tls", &url, ScopeMode::All);
    engine_settings.hub = Some(target);
    production(&node, "p-tls").await;
    let engine = SyncEngine::manual(node.store().clone(), engine_settings);
    let mut hub_conn = connected;
    engine.handshake(&hub_conn).await.unwrap();
    let (pushed, _) = engine.push_all(&mut hub_conn).await.unwrap();
    assert_eq!(pushed, 1);
}
