//! The old server's bugs, fixed rather than copied (contract hazards), and the crew app's
//! real request sequences (docs/contract.md §1.4 and §3.2 "SPA flows").
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{SAMPLE_FAMILIES, TestApp, sample_production, spawn_app};

#[actix_web::test]
async fn a_renumber_put_keeps_every_other_field() {
    let app = spawn_app().await;
    let production = app.create_production("Renumber").await;
    let (_, source) = app
        .post(
            "/api/computers",
            json!({"productionId": production, "id": "SRC 3", "type": "LAPTOP",
                                        "name": "GFX A", "hRes": 1920, "vRes": 1080, "rate": 59.94,
                                        "outputs": [{"connector": "HDMI"}, {"connector": "SDI"}]}),
        )
        .await;
    let uuid = source["uuid"].as_str().unwrap();
    let (status, renumbered) = app
        .put(
            &format!("/api/computers/{uuid}"),
            json!({"id": "SRC 1", "version": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renumbered}");
    assert_eq!(renumbered["id"], json!("SRC 1"));
    for key in ["name", "type", "hRes", "vRes", "rate", "category"] {
        assert_eq!(renumbered[key], source[key], "{key} survived the renumber");
    }
    for (after, before) in renumbered["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(source["outputs"].as_array().unwrap())
    {
        assert_eq!(after["uuid"], before["uuid"]);
        assert_eq!(after["connector"], before["connector"]);
        assert_eq!(
            after["sourceId"],
            json!("SRC 1"),
            "outputs name their renumbered source"
        );
    }
    // Outputs keep their uuids when the list is sent back with changes.
    let mut outputs = source["outputs"].clone();
    outputs[1]["connector"] = json!("12G-SDI");
    let (_, updated) = app
        .put(
            &format!("/api/sources/{uuid}"),
            json!({"outputs": outputs, "version": 2}),
        )
        .await;
    assert_eq!(updated["outputs"][0]["uuid"], source["outputs"][0]["uuid"]);
    assert_eq!(updated["outputs"][1]["uuid"], source["outputs"][1]["uuid"]);
    assert_eq!(updated["outputs"][1]["connector"], json!("12G-SDI"));
    assert_eq!(updated["outputs"][1]["outputIndex"], json!(2));
    assert_eq!(updated["outputs"][0]["sourceId"], json!("SRC 1"));
    app.stop().await;
}

#[actix_web::test]
async fn display_ids_and_timestamps_are_generated_when_absent() {
    let app = spawn_app().await;
    let production = app.create_production("Generated").await;
    for (family, prefix) in [
        ("routers", "ROUTER"),
        ("cam-switchers", "SWITCHER"),
        ("cable-snakes", "SNAKE"),
        ("led-screens", "LED"),
    ] {
        for n in 1..=2 {
            let (status, row) = app
                .post(
                    &format!("/api/{family}"),
                    json!({"productionId": production, "name": format!("{family} {n}")}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{row}");
            assert_eq!(row["id"], json!(format!("{prefix} {n}")));
            assert!(row["createdAt"].as_str().unwrap().ends_with('Z'));
            assert_eq!(row["createdAt"], row["updatedAt"]);
        }
    }
    // The Sends page omits `id`.
    let (status, send) = app
        .post(
            "/api/sends",
            json!({"productionId": production, "name": "SCREEN", "type": "VIDEO"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(send["id"], json!("DST 1"));
    app.stop().await;
}

#[actix_web::test]
async fn checklist_completion_stamps_epoch_ms_and_free_text_stays_text() {
    let app = spawn_app().await;
    let production = app.create_production("Checklist").await;
    let (_, item) = app
        .post("/api/checklist-items", json!({
            "id": "chk-1712000000000-0", "productionId": production, "title": "Order cables",
            "category": "SOURCES", "completed": false, "reference": "2026-03-01 call the venue",
            "moreInfo": [{"id": "m1", "text": "2026-03-02 confirm", "timestamp": 1712000000000u64, "type": "info"}],
            "userId": "u1", "userName": "Ann", "lastModifiedBy": "u1"}))
        .await;
    assert_eq!(item["reference"], json!("2026-03-01 call the venue"));
    assert_eq!(item["moreInfo"][0]["text"], json!("2026-03-02 confirm"));
    assert_eq!(item["completedAt"], Value::Null);
    let uuid = item["uuid"].as_str().unwrap();
    let (status, done) = app
        .put(
            &format!("/api/checklist-items/{uuid}"),
            json!({
            "completed": true, "completionNote": [{"text": "done"}],
            "completionDate": "2026-03-10T12:00:00.000Z", "version": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let stamp = done["completedAt"]
        .as_i64()
        .expect("completedAt is epoch ms");
    assert!(stamp > 1_700_000_000_000);
    assert_eq!(done["completionDate"], json!("2026-03-10T12:00:00.000Z"));
    // Editing the title keeps the completion.
    let (_, edited) = app
        .put(
            &format!("/api/checklist-items/{uuid}"),
            json!({"title": "Order more cables", "version": 2}),
        )
        .await;
    assert_eq!(edited["completedAt"], json!(stamp));
    let (_, undone) = app
        .put(
            &format!("/api/checklist-items/{uuid}"),
            json!({"completed": false, "version": 3}),
        )
        .await;
    assert_eq!(undone["completedAt"], Value::Null);
    app.stop().await;
}

#[actix_web::test]
async fn a_camera_links_to_the_ccu_of_its_own_production() {
    let app = spawn_app().await;
    let mine = app.create_production("Mine").await;
    let other = app.create_production("Other").await;
    let (_, _foreign) = app
        .post(
            "/api/ccus",
            json!({"productionId": other, "id": "CCU 1", "name": "Theirs"}),
        )
        .await;
    let (_, ccu) = app
        .post(
            "/api/ccus",
            json!({"productionId": mine, "id": "CCU 1", "name": "Ours"}),
        )
        .await;
    let (_, camera) = app
        .post(
            "/api/cameras",
            json!({"productionId": mine, "id": "CAM 1", "name": "Hard",
                                      "ccuId": "CCU 1", "maxZoom": ""}),
        )
        .await;
    assert_eq!(camera["ccuUuid"], ccu["uuid"]);
    assert_eq!(
        camera["maxZoom"],
        Value::Null,
        "an empty form field is null"
    );
    let (_, cleared) = app
        .put(
            &format!("/api/cameras/{}", camera["uuid"].as_str().unwrap()),
            json!({"ccuId": null, "version": 1}),
        )
        .await;
    assert_eq!(cleared["ccuUuid"], Value::Null);
    app.stop().await;
}

/// Contract §1.4 (start-up) and §3.2 (create show, open show), under `/api` and at the root.
async fn spa_flows(app: &TestApp, base: &str) {
    // Start-up.
    let (status, equipment) = app.get(&format!("{base}/equipment")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(equipment.as_array().unwrap().len(), 257);
    for (list, count) in [
        ("connector-types", 24),
        ("source-types", 8),
        ("frame-rates", 8),
        ("resolutions", 9),
    ] {
        let (status, values) = app.get(&format!("{base}/settings/{list}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(values.as_array().unwrap().len(), count, "{list}");
        assert!(values[0].is_string());
    }
    let (status, health) = app.get(&format!("{base}/health")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(health["status"].is_string());
    let (status, settings) = app.get(&format!("{base}/settings")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(settings.is_object());

    // Create show: the production, then the 95 default checklist items one by one.
    let production = uuid_v4_like(base);
    let (status, created) = app
        .post(&format!("{base}/productions"), json!({
            "id": production, "name": "Annual Conference", "client": "Sample Client",
            "venue": "Convention Center", "room": "Main Ballroom", "loadIn": "2024-03-15",
            "loadOut": "2024-03-18", "status": "PLANNING", "userId": "user-abc", "userName": "Ann"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let template: Value =
        serde_json::from_str(venuebox_store::seed::CHECKLIST_TEMPLATE_JSON).unwrap();
    for (index, item) in template.as_array().unwrap().iter().enumerate() {
        let (status, row) = app
            .post(
                &format!("{base}/checklist-items"),
                json!({
                "id": format!("chk-1712000000000-{index}"), "productionId": production,
                "title": item["title"], "category": item["category"], "completed": false,
                "daysBeforeShow": item["daysBeforeShow"], "userId": "user-abc", "userName": "Ann",
                "lastModifiedBy": "user-abc"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{row}");
    }
    let (_, productions) = app.get(&format!("{base}/productions")).await;
    assert!(
        productions
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == json!(production) && p["name"] == json!("Annual Conference"))
    );
    let (_, checklist) = app
        .get(&format!("{base}/checklist-items/production/{production}"))
        .await;
    assert_eq!(checklist.as_array().unwrap().len(), 95);
    assert_eq!(
        checklist[0]["id"],
        json!("chk-1712000000000-0"),
        "creation order"
    );

    // Open show: the production and six lists in parallel.
    let lists = [
        "checklist-items",
        "sources",
        "sends",
        "cameras",
        "ccus",
        "media-servers",
    ];
    let show_path = format!("{base}/productions/{production}");
    let (show, answers) = tokio::join!(
        app.get(&show_path),
        futures_util::future::join_all(
            lists
                .iter()
                .map(|family| app.get_owned(format!("{base}/{family}/production/{production}")))
        ),
    );
    assert_eq!(show.0, StatusCode::OK);
    assert_eq!(show.1["name"], json!("Annual Conference"));
    for ((status, body), family) in answers.into_iter().zip(lists) {
        assert_eq!(status, StatusCode::OK, "{family}");
        assert!(body.is_array(), "{family}");
    }

    // Dashboard edit, then delete.
    let (status, saved) = app
        .put(&format!("{base}/productions/{production}"), json!({
            "name": "Annual Conference 2026", "client": "Sample Client", "venue": "Convention Center",
            "room": "Main Ballroom", "loadIn": "2024-03-15", "loadOut": "2024-03-18",
            "showInfoUrl": "https://example.invalid/sheet", "status": "READY", "version": 1,
            "fieldVersions": {"showName": {"version": 1, "updatedAt": "2024-03-01T00:00:00.000Z"}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["version"], json!(2));
    let (status, _) = app
        .delete(&format!("{base}/productions/{production}"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

fn uuid_v4_like(base: &str) -> String {
    if base.is_empty() {
        "2b0c9a3e-5f7d-4e41-9a55-0000000000aa".into()
    } else {
        "2b0c9a3e-5f7d-4e41-9a55-0000000000bb".into()
    }
}

#[actix_web::test]
async fn the_crew_app_flows_work_under_api_and_at_the_root() {
    let app = spawn_app().await;
    spa_flows(&app, "/api").await;
    spa_flows(&app, "").await;
    app.stop().await;
}

#[actix_web::test]
async fn the_sample_production_loads_through_the_api() {
    let app = spawn_app().await;
    let sample = sample_production();
    let id = app.load_sample_production().await;
    for (family, key) in SAMPLE_FAMILIES {
        let (_, list) = app.get(&format!("/api/{family}/production/{id}")).await;
        assert_eq!(
            list.as_array().unwrap().len(),
            sample[key].as_array().unwrap().len()
        );
    }
    let (_, sends) = app.get(&format!("/api/sends/production/{id}")).await;
    assert_eq!(
        sends[0]["output"],
        json!("HDMI"),
        "output_connector travels as `output`"
    );
    let (_, ips) = app.get(&format!("/api/ip-addresses/production/{id}")).await;
    assert_eq!(
        ips[0]["device"],
        json!("WIRELESS ROUTER"),
        "device_name travels as `device`"
    );
    assert_eq!(ips[0]["note"], json!("LED"));
    // Two devices cannot share an address in one show.
    let (status, body) = app
        .post(
            "/api/ip-addresses",
            json!({"productionId": id, "ip": "192.168.0.1", "device": "X", "category": "VIDEO"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], json!("DUPLICATE"));
    app.stop().await;
}
