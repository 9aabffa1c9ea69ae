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
    let (status, body) = app
        .get(&format!("/api/sources/production/{production}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], json!("PRODUCTION_NOT_FOUND"));
    // The crew app deletes again when it hears production:deleted: a clean 404, not a 500.
    let (status, _) = app.delete(&format!("/api/productions/{production}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = app
        .get(&format!("/api/sources/{}", kept["uuid"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK, "other productions are untouched");
    app.stop().await;
}
