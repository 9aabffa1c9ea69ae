//! Productions: keyed by `id`, `name` on every read, version required on PUT, hard delete
//! that takes every child row with it.
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn production_lifecycle_matches_the_contract() {
    let app = spawn_app().await;
    let (status, created) = app
        .post(
            "/api/productions",
            json!({"id": "6a1f0b8e-1111-4c1e-9c2a-000000000001", "name": "Morning News",
                   "client": "ABC", "venue": "Studio A", "room": "CR1", "loadIn": "2026-02-15",
                   "loadOut": "2026-02-16", "status": "PLANNING", "userId": "u1",
                   "userName": "Ann", "metadata": {"from": "spa"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["id"], json!("6a1f0b8e-1111-4c1e-9c2a-000000000001"));
    assert_eq!(created["showName"], json!("Morning News"));
    assert_eq!(created["name"], json!("Morning News"));
    assert_eq!(created["loadIn"], json!("2026-02-15T00:00:00.000Z"));
    assert_eq!(created["sourceTypes"].as_array().unwrap().len(), 11);
    assert!(created.get("uuid").is_none(), "productions are keyed by id");
    let id = created["id"].as_str().unwrap().to_owned();

    // A second, newer show lists first (created_at DESC).
    app.post(
        "/api/productions",
        json!({"name": "Concert", "client": "XYZ"}),
    )
    .await;
    let (_, list) = app.get("/api/productions").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["name"], json!("Concert"));
    assert!(
        list[0]["id"].as_str().unwrap().starts_with("prod_"),
        "{}",
        list[0]
    );

    let (status, body) = app
        .put(
            &format!("/api/productions/{id}"),
            json!({"name": "Evening News"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        json!("Version required for conflict detection")
    );

    let (status, updated) = app
        .put(
            &format!("/api/productions/{id}"),
            json!({"name": "Evening News", "version": 1, "fieldVersions": {"showName": {}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["version"], json!(2));
    assert_eq!(updated["name"], json!("Evening News"));
    assert_eq!(
        updated["venue"],
        json!("Studio A"),
        "fields not sent are kept"
    );

    let (status, conflict) = app
        .put(
            &format!("/api/productions/{id}"),
            json!({"name": "Late News", "version": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["currentVersion"], json!(2));
    assert_eq!(conflict["serverData"]["name"], json!("Evening News"));
    // The app's "force" choice: re-PUT with the server's version.
    let (status, forced) = app
        .put(
            &format!("/api/productions/{id}"),
            json!({"name": "Late News", "version": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(forced["version"], json!(3));

    let (status, body) = app
        .put(
            &format!("/api/productions/{id}"),
            json!({"id": "other", "version": 3}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the key cannot change: {body}"
    );

    let (status, body) = app.get("/api/productions/does-not-exist").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], json!("Production not found"));
    app.stop().await;
}

#[actix_web::test]
async fn deleting_a_production_removes_its_children() {
    let app = spawn_app().await;
    let production = app.create_production("Cascade").await;
    let other = app.create_production("Other").await;
    let (_, source) = app
        .post(
            "/api/sources",
            json!({"productionId": production, "type": "LAPTOP", "name": "A"}),
        )
        .await;
    let (_, item) = app
        .post(
            "/api/checklist-items",
            json!({"productionId": production, "title": "Patch"}),
        )
        .await;
    let (_, kept) = app
        .post(
            "/api/sources",
            json!({"productionId": other, "type": "LAPTOP", "name": "B"}),
        )
        .await;

    let (status, body) = app.delete(&format!("/api/productions/{production}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], json!(true));
    let (status, _) = app.get(&format!("/api/productions/{production}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get(&format!(
            "/api/sources/{}",
            source["uuid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .put(
            &format!("/api/checklist-items/{}", item["uuid"].as_str().unwrap()),
            json!({"completed": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Its lists are empty (a list of a show not on the box answers `200 []`, as the old
    // server did), and the show itself is gone.
    let (status, body) = app
        .get(&format!("/api/sources/production/{production}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!([]));
    let (status, _) = app.get(&format!("/api/productions/{production}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The crew app deletes again when it hears production:deleted: a clean 404, not a 500.
    let (status, _) = app.delete(&format!("/api/productions/{production}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = app
        .get(&format!("/api/sources/{}", kept["uuid"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK, "other productions are untouched");
    app.stop().await;
}

/// The export without what an import legitimately renews (times, versions, who wrote last).
fn stable(mut document: serde_json::Value) -> serde_json::Value {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for key in [
                    "createdAt",
                    "updatedAt",
                    "created_at",
                    "updated_at",
                    "version",
                    "lastModifiedBy",
                    "last_modified_by",
                    "exportedAt",
                    "completedAt",
                ] {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut document);
    document
}

#[actix_web::test]
async fn a_production_exports_and_imports_back_whole() {
    let app = spawn_app().await;
    let show = app.create_production("Transfer").await;
    app.post(
        "/api/sources",
        json!({"productionId": show, "id": "SRC 1", "type": "LAPTOP", "name": "GFX",
        "outputs": [{"connector": "HDMI"}, {"connector": "SDI"}]}),
    )
    .await;
    app.post(
        "/api/ccus",
        json!({"productionId": show, "id": "CCU 1", "name": "A"}),
    )
    .await;
    let (_, camera) = app
        .post(
            "/api/cameras",
            json!({"productionId": show, "id": "CAM 1", "name": "Hard", "ccuId": "CCU 1"}),
        )
        .await;
    assert!(camera["ccuUuid"].is_string());
    let (_, out_port) = app.post("/api/device-ports", json!({"productionId": show, "deviceUuid": camera["uuid"], "portLabel": "SDI", "ioType": "SDI", "direction": "OUTPUT"})).await;
    let (_, in_port) = app.post("/api/device-ports", json!({"productionId": show, "deviceUuid": "switcher", "portLabel": "IN 1", "ioType": "SDI", "direction": "INPUT"})).await;
    app.post("/api/cables", json!({"productionId": show, "outputPortUuid": out_port["uuid"], "inputPortUuid": in_port["uuid"], "cableType": "SDI"})).await;
    app.post(
        "/api/connections",
        json!({"productionId": show, "destination_type": "SEND"}),
    )
    .await;
    let (_, item) = app
        .post(
            "/api/checklist-items",
            json!({"productionId": show, "title": "Patch", "completed": true}),
        )
        .await;
    assert!(item["completedAt"].is_number());

    let (status, exported) = app.get(&format!("/api/productions/{show}/export")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(exported["format"], json!("venuebox.production/1"));
    assert_eq!(exported["kinds"]["source"].as_array().unwrap().len(), 1);
    assert_eq!(exported["kinds"]["cable"].as_array().unwrap().len(), 1);

    let (status, body) = app.post("/api/productions/import", exported.clone()).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the show is already here: {body}"
    );
    let (_, sources) = app.get(&format!("/api/sources/production/{show}")).await;
    assert_eq!(
        sources.as_array().unwrap().len(),
        1,
        "a refused import leaves nothing half-written"
    );

    app.delete(&format!("/api/productions/{show}")).await;
    let (status, imported) = app.post("/api/productions/import", exported.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{imported}");
    let (_, again) = app.get(&format!("/api/productions/{show}/export")).await;
    assert_eq!(
        stable(again),
        stable(exported),
        "every row, uuid and link came back"
    );

    let (status, body) = app
        .post(
            "/api/productions/import",
            json!({"format": "something else"}),
        )
        .await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("format"))
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_long_list_is_streamed_in_pages_and_still_holds_every_row_in_order() {
    let app = spawn_app().await;
    let sources: Vec<_> = (0..1_500)
        .map(|i| {
            json!({"id": format!("SRC {i}"), "type": "CAMERA", "name": format!("Cam {i}"),
            "outputs": [{"connector": "SDI"}]})
        })
        .collect();
    let (status, body) = app
        .post(
            "/api/productions/import",
            json!({"format": "venuebox.production/1",
                "production": {"id": "arena", "name": "Arena"},
                "kinds": {"source": sources}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let response = app
        .client
        .get(format!("{}/api/sources/production/arena", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Chunked, not sized: the box did not build the answer whole to learn its length.
    assert!(response.content_length().is_none());
    assert_eq!(
        response.headers()["transfer-encoding"],
        "chunked",
        "{:?}",
        response.headers()
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    let listed: Vec<serde_json::Value> = response.json().await.unwrap();
    let names: Vec<String> = listed
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..1_500).map(|i| format!("Cam {i}")).collect();
    assert_eq!(names, expected, "every row once, in creation order");
    assert!(listed.iter().all(|r| r["outputs"][0]["connector"] == "SDI"));

    // The export is streamed the same way and holds the same rows.
    let (status, exported) = app.get("/api/productions/arena/export").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(exported["kinds"]["source"].as_array().unwrap(), &listed);
    assert_eq!(exported["production"]["id"], json!("arena"));
    // A short list still goes whole, with its length.
    let response = app
        .client
        .get(format!("{}/api/sends/production/arena", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.content_length(), Some(2));
    app.stop().await;
}
