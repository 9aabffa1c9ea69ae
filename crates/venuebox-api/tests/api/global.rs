//! The equipment library, formats, settings lists, the key/value store, device ports and
//! cables, health and server info.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

fn port_count(equipment: &Value) -> usize {
    equipment
        .as_array()
        .unwrap()
        .iter()
        .map(|spec| {
            spec["equipment_io_ports"].as_array().unwrap().len()
                + spec["equipment_cards"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|card| card["equipment_card_io"].as_array().unwrap().len())
                    .sum::<usize>()
        })
        .sum()
}

#[actix_web::test]
async fn the_seeded_equipment_library_has_the_app_shape() {
    let app = spawn_app().await;
    let (_, equipment) = app.get("/api/equipment").await;
    let specs = equipment.as_array().unwrap();
    assert_eq!(specs.len(), 257);
    assert_eq!(
        port_count(&equipment),
        2315,
        "1,392 inputs + 911 outputs + 12 card ports"
    );
    let hdcu = specs
        .iter()
        .find(|s| s["id"] == json!("sony-hdcu-5500"))
        .unwrap();
    assert_eq!(hdcu["category"], json!("CCU"));
    assert_eq!(hdcu["io_architecture"], json!("direct"));
    let port = &hdcu["equipment_io_ports"][0];
    assert_eq!(port["port_type"], json!("INPUT"));
    assert_eq!(port["io_type"], json!("SMPTE Fiber"));
    assert_eq!(port["equipment_uuid"], hdcu["uuid"]);
    let korona = specs
        .iter()
        .find(|s| s["id"] == json!("grass-valley-korona-k-frame"))
        .unwrap();
    assert_eq!(korona["io_architecture"], json!("card-based"));
    assert_eq!(korona["format_by_io"], json!(false));
    assert_eq!(korona["equipment_cards"][0]["slot_number"], json!(1));
    assert_eq!(
        korona["equipment_cards"][0]["equipment_card_io"][0]["card_uuid"],
        korona["equipment_cards"][0]["uuid"]
    );
    // Ordered by category (enum order), manufacturer, model.
    assert_eq!(specs[0]["category"], json!("CAMERA"));
    assert!(
        specs
            .iter()
            .filter(|s| s["category"] == json!("CAMERA"))
            .count()
            == 10,
        "3 cameras + 7 PTZ"
    );
    app.stop().await;
}

#[actix_web::test]
async fn equipment_writes_fix_the_old_server() {
    let app = spawn_app().await;
    let spec = json!({"category": "cam-switcher", "manufacturer": "Ross", "model": "Carbonite",
        "ioArchitecture": "direct", "inputs": [{"id": "in-1", "type": "12G-SDI", "label": "In 1"}],
        "outputs": [{"id": "out-1", "type": "HDMI", "label": "PGM", "format": "1080p59.94"}],
        "deviceFormats": ["1080p59.94"], "formatByIO": false, "isSecondaryDevice": false,
        "specs": {"mes": 2}});
    let (status, created) = app.post("/api/equipment", spec.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["category"],
        json!("CAM_SWITCHER"),
        "dashed category accepted"
    );
    assert_eq!(created["format_by_io"], json!(false), "formatByIO kept");
    assert_eq!(created["id"], json!("ross-carbonite"));
    assert_eq!(
        created["equipment_io_ports"].as_array().unwrap().len(),
        2,
        "POSTed ports kept"
    );
    let uuid = created["uuid"].as_str().unwrap().to_owned();
    let (status, upper) = app
        .post(
            "/api/equipment",
            json!({"category": "CAM_SWITCHER", "manufacturer": "Ross", "model": "Acuity"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(upper["category"], json!("CAM_SWITCHER"));

    // Replacing the ports keeps the uuid of a port that stays.
    let mut edit = spec.clone();
    edit["inputs"] = json!([{"id": "in-1", "type": "12G-SDI", "label": "Camera 1"},
                           {"id": "in-2", "type": "12G-SDI", "label": "Camera 2"}]);
    edit["version"] = json!(1);
    let (status, edited) = app.put(&format!("/api/equipment/{uuid}"), edit).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let ports = edited["equipment_io_ports"].as_array().unwrap();
    assert_eq!(ports.len(), 3);
    assert_eq!(ports[0]["uuid"], created["equipment_io_ports"][0]["uuid"]);
    assert_eq!(ports[0]["label"], json!("Camera 1"));

    // Archive, list archived, un-archive.
    let (status, _) = app.delete(&format!("/api/equipment/{uuid}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, archived) = app.get("/api/equipment?archived=true").await;
    assert!(
        archived
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["uuid"] == json!(uuid))
    );
    let (status, _) = app.get(&format!("/api/equipment/{uuid}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, restored) = app
        .put(
            &format!("/api/equipment/{uuid}"),
            json!({"isDeleted": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["is_deleted"], json!(false));
    assert_eq!(
        restored["io_architecture"],
        json!("direct"),
        "un-archiving changes nothing else"
    );
    assert_eq!(restored["equipment_io_ports"].as_array().unwrap().len(), 3);
    app.stop().await;
}

#[actix_web::test]
async fn formats_protect_the_system_presets() {
    let app = spawn_app().await;
    let (_, formats) = app.get("/api/formats").await;
    let formats = formats.as_array().unwrap();
    assert_eq!(formats.len(), 37);
    assert!(formats.iter().all(|f| f["isSystem"] == json!(true)));
    let v_res: Vec<i64> = formats
        .iter()
        .map(|f| f["vRes"].as_i64().unwrap())
        .collect();
    assert!(v_res.windows(2).all(|w| w[0] >= w[1]), "ordered v_res DESC");
    let system = formats[0]["uuid"].as_str().unwrap();
    let (status, body) = app
        .put(&format!("/api/formats/{system}"), json!({"hRes": 1}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"],
        json!("System format presets cannot be modified")
    );
    let (status, _) = app.delete(&format!("/api/formats/{system}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let custom = json!({"id": "2560 x 1440 @ 60", "hRes": 2560, "vRes": 1440, "frameRate": 60, "isInterlaced": false, "blanking": "RBv2", "isSystem": true});
    let (status, created) = app.post("/api/formats", custom.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["isSystem"],
        json!(false),
        "clients cannot make system presets"
    );
    let (status, body) = app.post("/api/formats", custom).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        json!("Format id \"2560 x 1440 @ 60\" already exists")
    );
    let (status, body) = app
        .post("/api/formats", json!({"id": "x", "hRes": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], json!("MISSING_FIELD"));
    let uuid = created["uuid"].as_str().unwrap();
    let (status, _) = app.delete(&format!("/api/formats/{uuid}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = app.get("/api/formats").await;
    assert_eq!(after.as_array().unwrap().len(), 37);
    app.stop().await;
}

#[actix_web::test]
async fn settings_lists_add_remove_reorder_restore() {
    let app = spawn_app().await;
    let (status, row) = app
        .post("/api/settings/connector-types", json!({"name": "ST 2110"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{row}");
    assert_eq!(row["name"], json!("ST 2110"));
    assert_eq!(row["is_active"], json!(true));
    let (_, list) = app.get("/api/settings/connector-types").await;
    assert_eq!(list.as_array().unwrap().len(), 25);
    assert_eq!(list[24], json!("ST 2110"));
    let (status, body) = app
        .post("/api/settings/connector-types", json!({"name": "ST 2110"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, _) = app
        .delete("/api/settings/connector-types/LC%20-%20FIBER%20(SM)")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .delete("/api/settings/connector-types/LC%20-%20FIBER%20(SM)")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/api/settings/connector-types").await;
    assert!(!list.as_array().unwrap().contains(&json!("LC - FIBER (SM)")));
    let (status, _) = app
        .post(
            "/api/settings/connector-types",
            json!({"name": "LC - FIBER (SM)"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a removed entry can come back");

    let (status, _) = app
        .put(
            "/api/settings/frame-rates/reorder",
            json!({"rates": ["23.98", "24"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, rates) = app.get("/api/settings/frame-rates").await;
    assert_eq!(
        rates,
        json!(["23.98", "24", "60", "59.94", "50", "30", "29.97", "25"])
    );
    let (status, body) = app
        .put(
            "/api/settings/frame-rates/reorder",
            json!({"rates": ["48"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app
        .post("/api/settings/frame-rates", json!({"rate": "48"}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, restored) = app
        .post("/api/settings/frame-rates/restore-defaults", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        restored,
        json!(["60", "59.94", "50", "30", "29.97", "25", "24", "23.98"])
    );
    let (_, rates) = app.get("/settings/frame-rates").await;
    assert_eq!(rates, restored);
    let (_, resolutions) = app.get("/api/settings/resolutions").await;
    assert_eq!(resolutions[0], json!("8192 x 1080"));
    app.stop().await;
}

#[actix_web::test]
async fn the_key_value_store() {
    let app = spawn_app().await;
    let (_, all) = app.get("/api/settings").await;
    assert_eq!(all, json!({}));
    let (status, row) = app
        .post(
            "/api/settings/showClock",
            json!({"value": {"format": "24h"}, "category": "display"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{row}");
    assert_eq!(row["key"], json!("showClock"));
    let (_, value) = app.get("/api/settings/showClock").await;
    assert_eq!(value, json!({"format": "24h"}));
    app.post(
        "/api/settings/showClock",
        json!({"value": {"format": "12h"}}),
    )
    .await;
    let (_, all) = app.get("/api/settings").await;
    assert_eq!(all, json!({"showClock": {"format": "12h"}}));
    let (status, body) = app
        .post("/api/settings/empty", json!({"category": "x"}))
        .await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("value"))
    );
    let (status, _) = app.delete("/api/settings/showClock").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/api/settings/showClock").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], json!("Setting not found"));
    let (status, _) = app.delete("/api/settings/showClock").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[actix_web::test]
async fn device_ports_sync_with_their_device_and_cables_find_their_ports() {
    let app = spawn_app().await;
    let production = app.create_production("Ports").await;
    let (_, ccu) = app
        .post(
            "/api/ccus",
            json!({"productionId": production, "id": "CCU 1", "name": "A"}),
        )
        .await;
    let device = ccu["uuid"].as_str().unwrap();
    let (_, formats) = app.get("/api/formats").await;
    let format_uuid = formats[0]["uuid"].clone();
    let sync = format!("/api/device-ports/device/{device}/sync");
    let (status, ports) = app
        .post(&sync, json!({"productionId": production, "deviceDisplayId": "CCU 1", "ports": [
            {"portLabel": "Fiber", "ioType": "SMPTE Fiber", "direction": "INPUT"},
            {"portLabel": "SDI 1", "ioType": "SDI", "direction": "OUTPUT", "formatUuid": format_uuid, "cardSlot": 1},
            {"portLabel": "SDI 2", "ioType": "SDI", "direction": "OUTPUT"}]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{ports}");
    let ids: Vec<&str> = ports
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["CCU 1_in_1", "CCU 1_out_1", "CCU 1_out_2"]);
    assert_eq!(
        ports[1]["format"]["uuid"], format_uuid,
        "the format is embedded"
    );
    assert_eq!(ports[0]["format"], Value::Null);

    // Keep the first (renamed), drop the others, add one.
    let keep = ports[0]["uuid"].clone();
    let (_, synced) = app
        .post(
            &sync,
            json!({"productionId": production, "ports": [
            {"uuid": keep, "portLabel": "Fiber A", "ioType": "SMPTE Fiber", "direction": "INPUT"},
            {"portLabel": "Ref", "ioType": "BNC", "direction": "INPUT"}]}),
        )
        .await;
    let synced = synced.as_array().unwrap();
    assert_eq!(synced.len(), 2);
    assert_eq!(synced[0]["uuid"], keep);
    assert_eq!(synced[0]["portLabel"], json!("Fiber A"));
    let (_, listed) = app.get(&format!("/api/device-ports/device/{device}")).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let (status, body) = app.post(&sync, json!({"ports": []})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        json!("productionId and ports[] are required")
    );
    let (status, body) = app
        .post(&sync, json!({"productionId": production, "ports": [{"portLabel": "x", "ioType": "SDI", "direction": "SIDEWAYS"}]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], json!("ports[0].direction"));

    let (_, cable) = app
        .post(
            "/api/cables",
            json!({"productionId": production, "outputPortUuid": synced[1]["uuid"],
                                     "inputPortUuid": keep, "cableType": "SDI"}),
        )
        .await;
    let expected_id = format!(
        "{}_SDI_{}",
        &synced[1]["uuid"].as_str().unwrap()[..8],
        &keep.as_str().unwrap()[..8]
    );
    assert_eq!(cable["id"], json!(expected_id));
    assert_eq!(cable["inputPort"]["uuid"], keep, "ports are embedded");
    let (_, by_port) = app
        .get(&format!("/api/cables/port/{}", keep.as_str().unwrap()))
        .await;
    assert_eq!(by_port.as_array().unwrap().len(), 1);

    let (status, body) = app
        .delete(&format!("/api/device-ports/device/{device}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["deleted"], json!(2));
    app.stop().await;
}

#[actix_web::test]
async fn health_and_server_info() {
    let app = spawn_app().await;
    let (status, health) = app.get("/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], json!("healthy"));
    assert_eq!(health["database"]["connected"], json!(true));
    assert!(
        health["database"]["latency"]
            .as_str()
            .unwrap()
            .ends_with("ms")
    );
    let (status, api_health) = app.get("/api/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api_health["status"], json!("ok"));
    let (status, info) = app.get("/api/server/info").await;
    assert_eq!(status, StatusCode::OK);
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(info["port"], json!(port));
    assert_eq!(info["isLANServer"], json!(false));
    assert_eq!(info["nodeId"].as_str().unwrap().len(), 36);
    // Health is public (probes, the crew app before sign-in): it says the box is up and
    // nothing a stranger could use to tell boxes or versions apart.
    for answer in [&health, &api_health] {
        assert!(
            answer.get("nodeId").is_none() && answer.get("version").is_none(),
            "{answer}"
        );
    }

    // CORS preflight from the app's dev origin.
    let response = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/sources", app.address),
        )
        .header("Origin", "http://localhost:3011")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert!(
        response
            .headers()
            .contains_key("access-control-allow-origin")
    );
    app.stop().await;
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern() {
    let app = spawn_app().await;
    let production = app.create_production("Metrics").await;
    for _ in 0..3 {
        app.get(&format!("/api/sources/production/{production}"))
            .await;
    }
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"venuebox_http_requests_total{method="GET",route="/api/sources/production/{production_id}",status="200"} 3"#),
        "{text}"
    );
    assert!(!text.contains(&production), "ids never become labels");
    assert!(text.contains("# TYPE venuebox_http_request_duration_seconds histogram"));
    assert!(text.contains("venuebox_store_commits_total"));
    app.stop().await;
}
