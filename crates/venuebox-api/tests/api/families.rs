//! Every per-production family through its whole life: create, list, get, update,
//! stale-version 409, delete (soft or hard), list after delete, and the root-path alias.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

struct Family {
    path: &'static str,
    create: Value,
    update_key: &'static str,
    update_value: Value,
    hard_delete: bool,
    /// Responses in snake_case (connections, contract §3.8).
    snake: bool,
}

fn family(
    path: &'static str,
    create: Value,
    update_key: &'static str,
    update_value: Value,
) -> Family {
    Family {
        path,
        create,
        update_key,
        update_value,
        hard_delete: false,
        snake: false,
    }
}

/// Replaces `"$OUT"` / `"$IN"` placeholders with real device-port uuids.
fn fill(body: &Value, out_port: &str, in_port: &str) -> Value {
    let text = body
        .to_string()
        .replace("$OUT", out_port)
        .replace("$IN", in_port);
    serde_json::from_str(&text).unwrap()
}

async fn make_port(app: &TestApp, production: &str, label: &str, direction: &str) -> String {
    let (status, port) = app
        .post(
            "/api/device-ports",
            json!({"productionId": production, "deviceUuid": "dev-1", "portLabel": label,
                   "ioType": "SDI", "direction": direction}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{port}");
    port["uuid"].as_str().unwrap().to_owned()
}

async fn exercise(spec: Family) {
    let app = spawn_app().await;
    let production = app.create_production("Family test").await;
    let out_port = make_port(&app, &production, "OUT 1", "OUTPUT").await;
    let in_port = make_port(&app, &production, "IN 1", "INPUT").await;
    let production_key = if spec.snake {
        "production_id"
    } else {
        "productionId"
    };
    let deleted_key = if spec.snake {
        "is_deleted"
    } else {
        "isDeleted"
    };

    let mut body = fill(&spec.create, &out_port, &in_port);
    body["productionId"] = json!(production);
    body["userId"] = json!("u-1");
    body["userName"] = json!("Ann");
    let (status, created) = app.post(&format!("/api/{}", spec.path), body).await;
    assert_eq!(status, StatusCode::CREATED, "{}: {created}", spec.path);
    let uuid = created["uuid"].as_str().expect("uuid").to_owned();
    assert_eq!(created[production_key], json!(production));
    assert_eq!(created["version"], json!(1));
    assert!(created["id"].is_string(), "display id generated: {created}");
    assert!(
        created.as_object().unwrap().values().any(Value::is_null),
        "nulls are present"
    );

    let list_path = format!("/api/{}/production/{production}", spec.path);
    let (status, list) = app.get(&list_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|r| r["uuid"] == json!(uuid))
    );

    let one_path = format!("/api/{}/{uuid}", spec.path);
    let (status, fetched) = app.get(&one_path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);

    let value = fill(&spec.update_value, &out_port, &in_port);
    let (status, updated) = app
        .put(
            &one_path,
            json!({spec.update_key: value, "version": 1, "userId": "u-2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated[spec.update_key], value);
    assert_eq!(updated["version"], json!(2));
    // A partial PUT changes only what it carries.
    for (key, before) in created.as_object().unwrap() {
        if ![
            spec.update_key,
            "version",
            "updatedAt",
            "updated_at",
            "lastModifiedBy",
            "last_modified_by",
        ]
        .contains(&key.as_str())
        {
            assert_eq!(&updated[key], before, "{}: {key} changed", spec.path);
        }
    }

    let (status, conflict) = app
        .put(&one_path, json!({spec.update_key: value, "version": 1}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["code"], json!("VERSION_CONFLICT"));
    assert!(conflict["error"].is_string());
    assert_eq!(conflict["currentVersion"], json!(2));
    assert_eq!(conflict["clientVersion"], json!(1));
    assert_eq!(conflict["serverData"]["uuid"], json!(uuid));

    let (status, deleted) = app.delete(&one_path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["success"], json!(true));
    let (status, missing) = app.get(&one_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing["error"].as_str().unwrap().contains("not found"));
    let (status, _) = app.delete(&one_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleting twice is a 404");
    let (_, list) = app.get(&list_path).await;
    assert!(
        !list
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["uuid"] == json!(uuid))
    );

    let (_, archived) = app.get(&format!("{list_path}?archived=true")).await;
    let in_archive = archived
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["uuid"] == json!(uuid));
    if spec.hard_delete {
        assert!(in_archive.is_none(), "{} deletes hard", spec.path);
    } else {
        let row = in_archive.expect("soft-deleted row is kept");
        assert_eq!(row[deleted_key], json!(true));
        assert_eq!(row["version"], json!(3));
    }

    // The same family at the root, as the crew app calls it after switching servers.
    let (status, root_list) = app
        .get(&format!("/{}/production/{production}", spec.path))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(root_list, list);
    app.stop().await;
}

macro_rules! family_tests {
    ($($name:ident => $spec:expr;)*) => {
        $(
            #[actix_web::test]
            async fn $name() {
                exercise($spec).await;
            }
        )*
    };
}

family_tests! {
    sources => family("sources",
        json!({"id": "SRC 1", "type": "LAPTOP", "name": "WIDE A", "hRes": 1920, "vRes": 1080,
               "rate": 59.94, "outputs": [{"connector": "HDMI"}]}),
        "name", json!("WIDE B"));
    computers => family("computers",
        json!({"id": "SRC 2", "type": "LAPTOP", "name": "GFX A", "category": "COMPUTER"}),
        "rate", json!(50.0));
    sends => family("sends",
        json!({"id": "DST 1", "type": "VIDEO SWITCH", "name": "SCREEN 1A", "output": "HDMI"}),
        "output", json!("12G-SDI"));
    cameras => family("cameras",
        json!({"id": "CAM 1", "name": "Hard cam", "manufacturer": "Sony", "maxZoom": 40,
               "hasTripod": true}),
        "lensType", json!("Box lens"));
    ccus => family("ccus",
        json!({"id": "CCU 1", "name": "CCU A", "outputs": [{"n": 1}]}),
        "fiberInput", json!("SMPTE"));
    checklist_items => Family { hard_delete: true, ..family("checklist-items",
        json!({"id": "chk-1", "title": "Screen Parameters", "category": "SCREENS",
               "daysBeforeShow": 60}),
        "assignedTo", json!("Ann")) };
    cable_snakes => family("cable-snakes", json!({"name": "Snake 1"}), "manufacturer", json!("Belden"));
    cam_switchers => family("cam-switchers", json!({"name": "K-Frame"}), "inputs", json!(40));
    vision_switchers => family("vision-switchers", json!({"name": "E2", "mes": 2}), "outputs", json!(8));
    routers => family("routers", json!({"name": "Router 1"}), "inputs", json!(288));
    led_screens => family("led-screens",
        json!({"name": "MAIN LED", "sortOrder": 0,
               "tileGrid": {"cols": 2, "rows": 1, "cells": [[{"type": "TILE"}, {"type": "VOID"}]]}}),
        "posDsXM", json!(1.5));
    media_servers => family("media-servers",
        json!({"id": "1A", "name": "Server 1 A", "pairNumber": 1, "isBackup": false,
               "platform": "Disguise", "computerType": "VX4"}),
        "pairNumber", json!(2));
    projection_screens => family("projection-screens",
        json!({"id": "PROJ 1", "name": "Left projector", "manufacturer": "Barco"}),
        "hRes", json!(1920));
    projection_surfaces => family("projection-surfaces",
        json!({"id": "S1", "name": "Main screen", "widthM": 6.0, "heightM": 3.375,
               "surfaceType": "FRONT", "mattes": [], "projectorAssignments": []}),
        "surfaceType", json!("REAR"));
    records => family("records", json!({"name": "Rec 1", "format": "ProRes"}), "model", json!("HyperDeck"));
    streams => family("streams",
        json!({"name": "YouTube", "platform": "YouTube", "url": "rtmp://example", "streamKey": "k"}),
        "streamKey", json!("k2"));
    connections => Family { snake: true, ..family("connections",
        json!({"destination_type": "SEND", "source_id": "SRC 1"}),
        "note", json!("patched at FOH")) };
    ip_addresses => Family { hard_delete: true, ..family("ip-addresses",
        json!({"id": "ip-1", "ip": "192.168.0.1", "device": "WIRELESS ROUTER", "category": "VIDEO"}),
        "device", json!("AP 2")) };
    device_ports => family("device-ports",
        json!({"deviceUuid": "dev-2", "portLabel": "SDI 1", "ioType": "SDI", "direction": "INPUT"}),
        "portLabel", json!("SDI 2"));
    cables => family("cables",
        json!({"outputPortUuid": "$OUT", "inputPortUuid": "$IN", "cableType": "SDI", "lengthFt": 50}),
        "lengthFt", json!(75.0));
}
