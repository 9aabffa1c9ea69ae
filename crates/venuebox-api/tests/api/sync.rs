//! Two boxes and a PostgreSQL hub, over HTTP: edits made on each while the hub is down
//! arrive everywhere once it is back, the overlapping ones show up in the conflict API and
//! are resolved there, and the status reports an empty queue.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use venuebox_sync::testkit::{Proxy, ProxyMode, TestHub};

use crate::helpers::{SAMPLE_FAMILIES, TestApp, spawn_app, spawn_app_with};

async fn spawn_box(hub_url: &str, name: &str) -> TestApp {
    let url = hub_url.to_owned();
    let name = name.to_owned();
    spawn_app_with(move |config| {
        config.hub.url = venuebox_api::config::Secret::new(url);
        config.hub.scope = "all".into();
        config.hub.sync_interval = "1s".into();
        config.node.name = name;
    })
    .await
}

/// Runs "sync now" until it succeeds (the engine may be waiting out a backoff).
async fn sync_now(app: &TestApp) -> Value {
    for _ in 0..100 {
        let (status, body) = app.post("/api/sync/now", json!({})).await;
        if status == StatusCode::OK {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "sync never succeeded: {:?}",
        app.get("/api/sync/status").await
    );
}

async fn source_names(app: &TestApp, production: &str) -> Vec<(String, Value, Value)> {
    let (status, body) = app
        .get(&format!("/api/sources/production/{production}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut rows: Vec<(String, Value, Value)> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["uuid"].as_str().unwrap().to_owned(),
                s["name"].clone(),
                s["note"].clone(),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[actix_web::test]
async fn two_boxes_edit_while_the_hub_is_down_and_converge_when_it_returns() {
    let hub = TestHub::new().await;
    let proxy = Proxy::start().await;
    let url = hub.url_via(&proxy);
    let venue = spawn_box(&url, "venue").await;
    let office = spawn_box(&url, "office").await;

    let production = venue.create_production("Arena Show").await;
    let (_, cam) = venue
        .post(
            "/api/sources",
            json!({"productionId": production, "name": "Playback", "type": "Laptop"}),
        )
        .await;
    let cam = cam["uuid"].as_str().unwrap().to_owned();
    sync_now(&venue).await;
    sync_now(&office).await;
    assert_eq!(source_names(&office, &production).await.len(), 1);

    // The hub goes away. Both boxes keep working.
    proxy.set(ProxyMode::Down);
    let (status, body) = venue.post("/api/sync/now", json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "HUB_UNREACHABLE");
    let (status, _) = venue
        .put(
            &format!("/api/sources/{cam}"),
            json!({"name": "Playback (venue)"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = office
        .put(
            &format!("/api/sources/{cam}"),
            json!({"note": "office note"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, _) = office
        .put(
            &format!("/api/sources/{cam}"),
            json!({"name": "Playback (office)"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for n in 0..5 {
        venue
            .post(
                "/api/sources",
                json!({"productionId": production, "name": format!("Venue {n}"), "type": "Camera"}),
            )
            .await;
        office
            .post(
                "/api/sources",
                json!({"productionId": production, "name": format!("Office {n}"), "type": "Camera"}),
            )
            .await;
    }
    let (_, status) = venue.get("/api/sync/status").await;
    assert_eq!(status["online"], false);
    assert_eq!(status["queueLength"], 6);
    assert!(status["oldestQueuedAt"].is_string());

    // The hub returns: both drain on their own (backoff retries), then pull each other.
    proxy.set(ProxyMode::Up);
    for app in [&venue, &office, &venue] {
        sync_now(app).await;
    }
    let on_venue = source_names(&venue, &production).await;
    let on_office = source_names(&office, &production).await;
    assert_eq!(on_venue, on_office);
    assert_eq!(on_venue.len(), 11);
    let merged = on_venue.iter().find(|s| s.0 == cam).unwrap();
    assert_eq!(merged.1, "Playback (office)", "the later edit wins");
    assert_eq!(merged.2, "office note", "a different field survives");

    // The overlapping edit is in the conflict log on both boxes; so are the labels both boxes
    // gave out while apart (SRC 2..6 twice): the later arrivals took the next free numbers.
    let (_, listed) = venue
        .get(&format!("/api/sources/production/{production}"))
        .await;
    let mut labels: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(
        labels.len(),
        11,
        "every source has its own label: {labels:?}"
    );
    let mut concurrent_id = 0;
    for app in [&venue, &office] {
        let (status, body) = app.get("/api/sync/conflicts").await;
        assert_eq!(status, StatusCode::OK);
        let conflicts = body["conflicts"].as_array().unwrap();
        let (edits, renumbered): (Vec<&Value>, Vec<&Value>) =
            conflicts.iter().partition(|c| c["reason"] == "concurrent");
        assert_eq!(edits.len(), 1, "{body}");
        assert_eq!(edits[0]["column"], "name");
        assert_eq!(edits[0]["loserValue"], "Playback (venue)");
        assert_eq!(edits[0]["winnerValue"], "Playback (office)");
        concurrent_id = edits[0]["id"].as_i64().unwrap();
        assert_eq!(renumbered.len(), 5, "{body}");
        assert!(
            renumbered
                .iter()
                .all(|c| c["reason"] == "renumbered" && c["column"] == "id")
        );
    }
    // A renumbering is acknowledged by keeping the new label.
    let (_, body) = office.get("/api/sync/conflicts").await;
    for conflict in body["conflicts"].as_array().unwrap() {
        if conflict["reason"] == "renumbered" {
            let path = format!("/api/sync/conflicts/{}/resolve", conflict["id"]);
            let (status, body) = office.post(&path, json!({"choice": "ours"})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    // Bad resolutions are refused precisely; a good one is a change that syncs.
    let id = concurrent_id;
    let path = format!("/api/sync/conflicts/{id}/resolve");
    let (status, body) = venue.post(&path, json!({"choice": "maybe"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "choice");
    let (status, body) = venue.post(&path, json!({"choice": "value"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = venue
        .post(
            "/api/sync/conflicts/999999/resolve",
            json!({"choice": "ours"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = venue
        .post(
            &path,
            json!({"choice": "value", "value": "Playback (agreed)"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["resolution"], "value");
    let (status, body) = venue.post(&path, json!({"choice": "ours"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for app in [&venue, &office] {
        sync_now(app).await;
    }
    for app in [&venue, &office] {
        let names = source_names(app, &production).await;
        assert_eq!(
            names.iter().find(|s| s.0 == cam).unwrap().1,
            "Playback (agreed)"
        );
        let (_, body) = app.get("/api/sync/conflicts").await;
        assert_eq!(
            body["conflicts"].as_array().unwrap().len(),
            0,
            "resolved everywhere"
        );
        let (_, status) = app.get("/api/sync/status").await;
        assert_eq!(status["queueLength"], 0, "{status}");
        assert_eq!(status["online"], true);
        assert_eq!(status["conflictsPending"], 0);
        assert_eq!(status["appliedSeq"], status["hubSeq"], "{status}");
        let text = status.to_string();
        assert!(
            !text.contains("venuebox-test"),
            "no credentials in the status: {text}"
        );
    }
    let (_, log) = venue.get("/api/sync/log").await;
    let log = log["log"].as_array().unwrap();
    assert!(
        log.iter()
            .any(|e| e["direction"] == "push" && e["records"].as_i64() > Some(0))
    );
    assert!(log.iter().any(|e| e["direction"] == "pull"));
    assert!(
        log.iter().any(|e| e["error"].is_string()),
        "the failed round is logged"
    );
    venue.stop().await;
    office.stop().await;
}

#[actix_web::test]
async fn without_a_hub_the_box_works_offline_and_says_so() {
    let app = spawn_app().await;
    let production = app.create_production("Offline").await;
    app.post(
        "/api/sources",
        json!({"productionId": production, "name": "A", "type": "B"}),
    )
    .await;
    let (status, body) = app.get("/api/sync/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["configured"], false);
    assert_eq!(body["online"], false);
    assert_eq!(body["queueLength"], 2, "kept for a hub configured later");
    assert_eq!(body["heldProductions"], json!([production]));
    // Waiting for a change that does not come ends with the wait, answering the same version;
    // a version that is not the current one answers at once; a wait that is not a number is
    // refused.
    let version = body["version"].as_u64().unwrap();
    let (status, body) = app
        .get(&format!("/api/sync/status?after={version}&waitMs=50"))
        .await;
    assert_eq!(
        (status, body["version"].as_u64()),
        (StatusCode::OK, Some(version))
    );
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(5),
        app.get(&format!(
            "/api/sync/status?after={}&waitMs=600000",
            version + 7
        )),
    )
    .await
    .expect("a version that is not the current one answers at once (the wait is capped at 10 s)");
    assert_eq!(
        (status, body["version"].as_u64()),
        (StatusCode::OK, Some(version))
    );
    let (status, body) = app.get("/api/sync/status?after=0&waitMs=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["code"].is_string(), "{body}");
    let (status, body) = app.post("/api/sync/now", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "SYNC_NOT_CONFIGURED");
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let body = metrics.text().await.unwrap();
    assert!(body.contains("venuebox_sync_queue_length 2"), "{body}");
    // A status answer waiting for a change does not hold up the box's stop (which waits for
    // requests in flight): the engine stopping ends the wait.
    let waiting = tokio::spawn(
        app.client
            .get(format!(
                "{}/api/sync/status?after={version}&waitMs=10000",
                app.address
            ))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::timeout(Duration::from_secs(5), app.stop())
        .await
        .expect("the box stops without waiting out the status answer's 10 s");
    let answered = tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .expect("the waiting request ended with the stop")
        .unwrap();
    assert_eq!(answered.unwrap().status(), StatusCode::OK);
}

/// A row as the crew sees it, without what is local to each box (its version counter, when
/// this box last changed it, who last changed it here).
fn portable(mut row: Value) -> Value {
    if let Some(map) = row.as_object_mut() {
        for key in [
            "version",
            "updatedAt",
            "updated_at",
            "lastModifiedBy",
            "last_modified_by",
            "syncedAt",
            "synced_at",
        ] {
            map.remove(key);
        }
    }
    row
}

#[actix_web::test]
async fn the_sample_production_downloads_onto_another_box_exactly_as_the_office_has_it() {
    let hub = TestHub::new().await;
    let office = spawn_box(&hub.url, "office").await;
    let id = office.load_sample_production().await;
    sync_now(&office).await;

    let venue = spawn_app_with({
        let url = hub.url.clone();
        move |config| {
            config.hub.url = venuebox_api::config::Secret::new(url);
            config.node.name = "venue".into();
        }
    })
    .await;
    let (status, listed) = venue.get("/api/sync/productions").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["productions"][0]["name"], "Annual Conference 2024");
    let (status, body) = venue
        .post(
            &format!("/api/sync/production/{id}/download"),
            json!({"lock": "yes"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = venue
        .post(&format!("/api/sync/production/{id}/download"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // Followed as `venuebox download` does: each answer waits for the next change of the
    // state, so every answer comes with a newer version, and the last one says "done".
    let mut phase = String::new();
    let (_, status) = venue.get("/api/sync/status").await;
    let mut version = status["version"]
        .as_u64()
        .expect("the status has a version");
    for _ in 0..2_000 {
        let (code, status) = venue
            .get(&format!("/api/sync/status?after={version}&waitMs=5000"))
            .await;
        assert_eq!(code, StatusCode::OK, "{status}");
        let next = status["version"].as_u64().unwrap();
        assert!(
            next > version,
            "an answer waits for a change: {next} after {version}"
        );
        version = next;
        phase = status["download"]["phase"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if phase == "done" || phase == "failed" {
            break;
        }
    }
    assert_eq!(phase, "done");
    let (_, office_show) = office.get(&format!("/api/productions/{id}")).await;
    let (_, venue_show) = venue.get(&format!("/api/productions/{id}")).await;
    assert_eq!(portable(venue_show), portable(office_show));
    for (family, _) in SAMPLE_FAMILIES {
        let (_, ours) = office.get(&format!("/api/{family}/production/{id}")).await;
        let (_, theirs) = venue.get(&format!("/api/{family}/production/{id}")).await;
        let ours: Vec<Value> = ours
            .as_array()
            .unwrap()
            .iter()
            .cloned()
            .map(portable)
            .collect();
        let theirs: Vec<Value> = theirs
            .as_array()
            .unwrap()
            .iter()
            .cloned()
            .map(portable)
            .collect();
        assert!(!ours.is_empty());
        assert_eq!(theirs, ours, "{family}: same rows, same order");
    }
    office.stop().await;
    venue.stop().await;
}
