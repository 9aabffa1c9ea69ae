//! Data survives restarts; concurrent writers lose nothing and never see a 5xx.
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn data_survives_a_restart_and_seeding_happens_once() {
    let app = spawn_app().await;
    let production = app.create_production("Restart").await;
    let (_, source) = app
        .post(
            "/api/sources",
            json!({"productionId": production, "type": "CAM", "name": "CAM 1",
                                      "outputs": [{"connector": "SDI"}]}),
        )
        .await;
    let (_, node_before) = app.get("/health").await;
    let app = app.restart().await;
    let (status, again) = app
        .get(&format!(
            "/api/sources/{}",
            source["uuid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, source);
    let (_, equipment) = app.get("/api/equipment").await;
    assert_eq!(equipment.as_array().unwrap().len(), 257, "not seeded twice");
    let (_, formats) = app.get("/api/formats").await;
    assert_eq!(formats.as_array().unwrap().len(), 37);
    let (_, node_after) = app.get("/health").await;
    assert_eq!(
        node_before["nodeId"], node_after["nodeId"],
        "the node id is stable"
    );
    app.stop().await;
}

#[actix_web::test]
async fn fifty_concurrent_writers_lose_nothing() {
    let app = spawn_app().await;
    let production = app.create_production("Concurrency").await;
    const WRITERS: usize = 50;
    const EACH: usize = 10;
    let results = futures_util::future::join_all((0..WRITERS).map(|writer| {
        let app = &app;
        let production = production.clone();
        async move {
            let mut statuses = Vec::new();
            for n in 0..EACH {
                let (status, row) = app
                    .post(
                        "/api/checklist-items",
                        json!({"productionId": production,
                        "id": format!("chk-{writer}-{n}"), "title": format!("Item {writer}.{n}")}),
                    )
                    .await;
                statuses.push(status);
                // Each writer also edits what it wrote.
                let (status, _) = app
                    .put(
                        &format!("/api/checklist-items/{}", row["uuid"].as_str().unwrap()),
                        json!({"completed": true, "version": 1}),
                    )
                    .await;
                statuses.push(status);
            }
            statuses
        }
    }))
    .await;
    let statuses: Vec<StatusCode> = results.into_iter().flatten().collect();
    assert_eq!(statuses.len(), WRITERS * EACH * 2);
    assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");
    let (_, items) = app
        .get(&format!("/api/checklist-items/production/{production}"))
        .await;
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), WRITERS * EACH);
    assert!(
        items
            .iter()
            .all(|i| i["completed"] == json!(true) && i["version"] == json!(2))
    );
    app.stop().await;
}

#[actix_web::test]
async fn racing_edits_of_one_version_let_exactly_one_win() {
    let app = spawn_app().await;
    let production = app.create_production("Race").await;
    let (_, camera) = app
        .post(
            "/api/cameras",
            json!({"productionId": production, "name": "CAM 3"}),
        )
        .await;
    let path = format!("/api/cameras/{}", camera["uuid"].as_str().unwrap());
    let answers = futures_util::future::join_all((0..50).map(|n| {
        let app = &app;
        let path = path.clone();
        async move {
            app.put(
                &path,
                json!({"name": format!("CAM 3 take {n}"), "version": 1}),
            )
            .await
        }
    }))
    .await;
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let conflicts = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflicts), (1, 49));
    let (_, stored) = app.get(&path).await;
    let winner = &answers
        .iter()
        .find(|(s, _)| *s == StatusCode::OK)
        .unwrap()
        .1;
    assert_eq!(stored["name"], winner["name"]);
    assert_eq!(stored["version"], json!(2));
    app.stop().await;
}
