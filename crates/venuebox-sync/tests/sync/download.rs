//! The pre-show download and the production lock, against a real hub.
use std::time::Duration;

use serde_json::json;
use venuebox_sync::SyncEngine;

use crate::harness::{Node, Proxy, ProxyMode, TestHub, as_hub_rows};
use crate::{production, source};

/// A show planned in the office: a few rows made through the API path, pushed, then 10,000
/// more written straight into the hub (sources, cameras, checklist items), as a realistic
/// size for a large production.
async fn planned_show(hub: &TestHub, office: &Node) -> &'static str {
    production(office, "arena").await;
    for n in 0..5 {
        source(office, "arena", &format!("Playback {n}")).await;
    }
    office
        .create(
            "checklist-item",
            json!({"productionId": "arena", "title": "Check intercom"}),
        )
        .await;
    office.sync(&hub.url).await.unwrap();
    hub.client()
        .await
        .batch_execute(
            "INSERT INTO hub_entities (uuid, kind, production_id, data, clocks) \
             SELECT md5('gen' || n), \
               (ARRAY['source','camera','checklist-item'])[1 + n % 3], 'arena', \
               CASE n % 3 \
                 WHEN 0 THEN jsonb_build_object('id', 'SRC ' || (100 + n), 'name', 'Gen ' || n, \
                   'type', 'Camera', 'note', repeat('x', 40), '_deleted', false) \
                 WHEN 1 THEN jsonb_build_object('id', 'CAM ' || (100 + n), 'name', 'Cam ' || n, \
                   '_deleted', false) \
                 ELSE jsonb_build_object('title', 'Item ' || n, 'completed', false, \
                   'category', 'GENERAL') END, \
               '{}' FROM generate_series(1, 10000) AS n",
        )
        .await
        .unwrap();
    "arena"
}

async fn assert_same_as_hub(node: &Node, hub: &TestHub) {
    for kind in ["production", "source", "camera", "checklist-item"] {
        let ours = as_hub_rows(&node.rows(kind).await);
        let theirs = hub.rows(kind).await;
        // Every hub row is here with the same data (seeded global rows aside).
        assert_eq!(ours.len(), theirs.len(), "{kind} count on {}", node.name);
        for (uuid, data) in &theirs {
            let mut expected = data.clone();
            if let Some(map) = expected.as_object_mut() {
                map.entry("_deleted").or_insert(json!(false));
            }
            assert_eq!(
                ours.get(uuid),
                Some(&expected),
                "{kind} {uuid} on {}",
                node.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_production_downloads_verified_and_a_cut_download_resumes() {
    let hub = TestHub::new().await;
    let office = Node::new("office", &hub.url);
    let show = planned_show(&hub, &office).await;
    let proxy = Proxy::start().await;
    let via_proxy = hub.url_via(&proxy);
    let venue = Node::with_scope("venue", &via_proxy, venuebox_sync::ScopeMode::Held);

    // Cut the connection somewhere in the middle of the snapshot.
    let cut_at = 1000
        + (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as i64
            % 8000);
    let engine = venue.engine.clone();
    let watcher = {
        let engine = engine.clone();
        let proxy_state = proxy.handle();
        tokio::spawn(async move {
            loop {
                let staged = engine.state().download.map(|d| d.staged).unwrap_or(0);
                if staged >= cut_at {
                    proxy_state.set(ProxyMode::Down);
                    return staged;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let cut = engine.download("Show arena", false).await;
    watcher.abort();
    let staged_at_cut = watcher
        .await
        .unwrap_or_else(|_| panic!("the download ended before the cut at {cut_at}: {cut:?}"));
    let Err(err) = cut else {
        panic!("the download finished before the cut at {cut_at} rows")
    };
    eprintln!("cut after {staged_at_cut} rows: {err}");
    assert!(
        venue.rows("source").await.is_empty() && venue.rows("production").await.is_empty(),
        "nothing of a half-downloaded production is visible"
    );
    let status = engine.status().await.unwrap();
    assert_eq!(status.state.download.as_ref().unwrap().phase, "failed");

    // The office edits a row while the venue is cut off; the venue resumes.
    let first = office.rows("source").await.keys().next().unwrap().clone();
    office
        .update(
            "source",
            &first,
            json!({"note": "edited during the download"}),
        )
        .await
        .unwrap();
    office.sync(&hub.url).await.unwrap();
    proxy.set(ProxyMode::Up);
    let report = engine.download(show, false).await.unwrap();
    let progress = engine.state().download.unwrap();
    assert!(progress.resumed, "continued where it stopped");
    assert_eq!(progress.phase, "done");
    assert_eq!(report.production_id, "arena");
    assert_eq!(report.by_kind.values().sum::<i64>(), 10_007);
    // Staged once each across the cut, the ranges read two at a time and the tail after them.
    assert_eq!(report.rows, 10_007, "rows staged in all");
    assert_eq!(report.by_kind["production"], 1);
    assert_same_as_hub(&venue, &hub).await;
    assert_eq!(
        venue.rows("source").await[&first].0["note"],
        "edited during the download"
    );
    let status = engine.status().await.unwrap();
    assert_eq!(status.held_productions, vec!["arena".to_owned()]);
    assert!(status.holdings[0].downloaded_at.is_some());

    // Later edits in the office arrive by the ordinary pull (the production is now held).
    office
        .update("source", &first, json!({"note": "after the download"}))
        .await
        .unwrap();
    office.sync(&hub.url).await.unwrap();
    venue.sync(&via_proxy).await.unwrap();
    assert_eq!(
        venue.rows("source").await[&first].0["note"],
        "after the download"
    );

    // Downloading again refreshes without losing a change still waiting in the outbox.
    venue
        .update(
            "source",
            &first,
            json!({"name": "Venue rename, not pushed"}),
        )
        .await
        .unwrap();
    proxy.set(ProxyMode::Down);
    let offline = engine.download(show, false).await;
    assert!(offline.is_err());
    proxy.set(ProxyMode::Up);
    // Refresh straight from the hub without pushing first: the local value must survive.
    let report = engine.download(show, false).await.unwrap();
    assert!(report.kept_local_fields >= 1 || venue.queue_length().await == 0);
    assert_eq!(
        venue.rows("source").await[&first].0["name"],
        "Venue rename, not pushed"
    );
    assert_eq!(
        venue.queue_length().await,
        0,
        "the download pushed it after installing"
    );
    assert_eq!(
        hub.rows("source").await[&first]["name"],
        "Venue rename, not pushed"
    );
}

/// Each row's version and `updated_at`, and the data as JSON.
async fn versions(
    node: &Node,
) -> std::collections::BTreeMap<String, (i64, String, serde_json::Value)> {
    node.store()
        .read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT uuid, version, updated_at, data FROM entities WHERE production_id = 'arena'",
            )?;
            let rows = stmt.query_map([], |row| {
                let data: String = row.get(3)?;
                Ok((
                    row.get::<_, String>(0)?,
                    (row.get(1)?, row.get(2)?, serde_json::from_str(&data).unwrap()),
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
        .unwrap()
}

/// A box that never held the production takes the hub's rows as they come (one statement
/// each, no parse); downloading again goes through the merge, which compares the data as
/// JSON: the two write the same rows, a row nobody changed keeps its version and
/// `updated_at`, a row changed on the hub meanwhile counts up once, and labels made on the box
/// afterwards come after every label it downloaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_again_changes_only_what_the_hub_changed() {
    let hub = TestHub::new().await;
    let office = Node::new("office", &hub.url);
    let show = planned_show(&hub, &office).await;
    // A value whose text the hub keeps and a JSON parser does not (59.940 reads as 59.94):
    // compared as text, every download after the first would count its row up.
    hub.client()
        .await
        .batch_execute(
            "INSERT INTO hub_entities (uuid, kind, production_id, data, clocks) VALUES \
             ('rate', 'source', 'arena', '{\"id\": \"SRC 1\", \"name\": \"Rate\", \
             \"type\": \"Camera\", \"rate\": 59.940, \"_deleted\": false}', '{}')",
        )
        .await
        .unwrap();
    let venue = Node::with_scope("venue", &hub.url, venuebox_sync::ScopeMode::Held);
    venue.engine.download(show, false).await.unwrap();
    assert_same_as_hub(&venue, &hub).await;
    let first = versions(&venue).await;
    assert_eq!(first.len(), 10_007);
    assert!(first.values().all(|(version, _, _)| *version == 1));

    let edited = office.rows("source").await.keys().next().unwrap().clone();
    office
        .update("source", &edited, json!({"note": "changed in the office"}))
        .await
        .unwrap();
    // The office deletes a row; the venue makes one it has not pushed yet. The second
    // download removes the first (the box held the production, so it looks for rows the hub
    // no longer has) and keeps the second (a change still waiting for the hub).
    let intercom = office
        .rows("checklist-item")
        .await
        .into_iter()
        .find(|(_, (data, _))| data["title"] == "Check intercom")
        .unwrap()
        .0;
    office.delete("checklist-item", &intercom).await.unwrap();
    office.sync(&hub.url).await.unwrap();
    let local = venue.item("arena", "Made at the venue, not pushed").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let report = venue.engine.download(show, false).await.unwrap();
    assert_eq!(report.removed, 1, "{report:?}");
    assert!(!venue.rows("checklist-item").await.contains_key(&intercom));
    assert!(
        hub.rows("checklist-item").await.contains_key(&local),
        "pushed after"
    );
    assert_same_as_hub(&venue, &hub).await;
    let mut second = versions(&venue).await;
    assert!(second.remove(&local).is_some(), "the unpushed row stayed");
    assert_eq!(second.len(), first.len() - 1);
    for (uuid, (version, updated_at, data)) in &second {
        let (was_version, was_updated_at, was_data) = &first[uuid];
        if *uuid == edited {
            assert_eq!(*version, was_version + 1, "the edited row counts up once");
            assert_eq!(data["note"], "changed in the office");
        } else {
            assert_eq!(version, was_version, "{uuid} kept its version");
            assert_eq!(updated_at, was_updated_at, "{uuid} kept its updated_at");
            assert_eq!(data, was_data);
        }
    }

    // The generated rows go up to SRC 10099 and CAM 10100: the next ones made here follow.
    let src = venue
        .create(
            "source",
            json!({"productionId": "arena", "name": "New", "type": "Laptop"}),
        )
        .await;
    assert_eq!(src["id"], "SRC 10100");
    let cam = venue
        .create("camera", json!({"productionId": "arena", "name": "New"}))
        .await;
    assert_eq!(cam["id"], "CAM 10101");
}

/// A label this box gave out leaves with its row when a download removes a row the hub no
/// longer has (deleted in the office, never pulled here); the box's display-id counters live
/// in memory and restart from the rows, so the removal must leave the number behind: after a
/// restart the next label made here is a new one, not the removed row's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_removed_by_a_download_is_not_given_out_again_after_a_restart() {
    let hub = TestHub::new().await;
    let office = Node::new("office", &hub.url);
    production(&office, "arena").await;
    office.item("arena", "Made in the office").await;
    office.sync(&hub.url).await.unwrap();
    let mut venue = Node::with_scope("venue", &hub.url, venuebox_sync::ScopeMode::Held);
    venue.engine.download("arena", false).await.unwrap();
    let made_here = venue.item("arena", "Made at the venue").await;
    let label = venue.rows("checklist-item").await[&made_here].0["id"].clone();
    venue.sync(&hub.url).await.unwrap();
    office.sync(&hub.url).await.unwrap();
    office.delete("checklist-item", &made_here).await.unwrap();
    office.sync(&hub.url).await.unwrap();

    let report = venue.engine.download("arena", false).await.unwrap();
    assert_eq!(report.removed, 1, "{report:?}");
    venue.restart();
    let next = venue
        .create(
            "checklist-item",
            json!({"productionId": "arena", "title": "After the restart"}),
        )
        .await;
    assert_ne!(
        next["id"], label,
        "the removed row's label was given out again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_production_refuses_other_nodes_until_it_is_unlocked() {
    let hub = TestHub::new().await;
    let office = Node::new("office", &hub.url);
    production(&office, "gala").await;
    let row = source(&office, "gala", "Stage left").await;
    office.sync(&hub.url).await.unwrap();
    let venue = Node::with_scope("venue", &hub.url, venuebox_sync::ScopeMode::Held);
    let report = venue.engine.download("gala", true).await.unwrap();
    assert!(report.locked);
    let listed = venue.engine.hub_productions().await.unwrap();
    assert_eq!(
        listed[0].locked_by.as_deref(),
        Some(venue.store().node_id())
    );
    assert_eq!(listed[0].locked_by_name.as_deref(), Some("venue"));

    // The office edits and deletes while the venue holds the show: refused, kept as conflicts
    // on the office's side, and the office's copy goes back to the hub's.
    office
        .update("source", &row, json!({"name": "Office rename"}))
        .await
        .unwrap();
    let extra = source(&office, "gala", "Office addition").await;
    office.sync(&hub.url).await.unwrap();
    let conflicts = office.conflicts().await;
    assert!(
        conflicts
            .iter()
            .any(|c| c.reason == "locked" && c.loser_value == "Office rename"),
        "{conflicts:?}"
    );
    assert_eq!(office.rows("source").await[&row].0["name"], "Stage left");
    assert!(!office.rows("source").await.contains_key(&extra));
    assert!(!hub.rows("source").await.contains_key(&extra));
    // The holder itself syncs normally, and it is never blocked: it writes locally anyway.
    venue
        .update("source", &row, json!({"name": "Venue rename"}))
        .await
        .unwrap();
    venue.sync(&hub.url).await.unwrap();
    assert_eq!(hub.rows("source").await[&row]["name"], "Venue rename");
    // A second lock by another node is refused with who holds it.
    let err = office.engine.set_lock("gala", true).await.unwrap_err();
    assert!(err.to_string().contains("venue"), "{err}");

    venue.engine.set_lock("gala", false).await.unwrap();
    office.sync(&hub.url).await.unwrap();
    office
        .update("source", &row, json!({"name": "Office, after the show"}))
        .await
        .unwrap();
    office.sync(&hub.url).await.unwrap();
    venue.sync(&hub.url).await.unwrap();
    assert_eq!(
        venue.rows("source").await[&row].0["name"],
        "Office, after the show"
    );
    let _: &SyncEngine = &venue.engine;
}

/// A row whose data is not a JSON object (a hub written by hand, or broken) fails the
/// download with nothing of the production installed; the box is as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_hub_row_fails_the_download_and_installs_nothing() {
    let hub = TestHub::new().await;
    let office = Node::new("office", &hub.url);
    production(&office, "arena").await;
    source(&office, "arena", "Camera 1").await;
    office.sync(&hub.url).await.unwrap();
    hub.client()
        .await
        .batch_execute(
            "INSERT INTO hub_entities (uuid, kind, production_id, data, clocks) \
             VALUES ('broken', 'source', 'arena', '[1, 2]', '{}')",
        )
        .await
        .unwrap();
    let venue = Node::with_scope("venue", &hub.url, venuebox_sync::ScopeMode::Held);
    let failed = venue.engine.download("arena", false).await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(venue.rows("source").await.is_empty());
    assert!(venue.rows("production").await.is_empty());
}
