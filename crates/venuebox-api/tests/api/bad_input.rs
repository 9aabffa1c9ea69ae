//! Every kind of bad input gets a precise JSON 4xx, and nothing stored changes.
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn a_send(app: &TestApp) -> (String, Value) {
    let production = app.create_production("Bad input").await;
    let (status, send) = app
        .post(
            "/api/sends",
            json!({"productionId": production, "id": "DST 1", "type": "VIDEO",
                                    "name": "SCREEN 1", "hRes": 1920}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    (production, send)
}

#[actix_web::test]
async fn each_bad_input_is_named_and_nothing_changes() {
    let app = spawn_app().await;
    let (production, send) = a_send(&app).await;
    let path = format!("/api/sends/{}", send["uuid"].as_str().unwrap());

    // (body of a PUT to the stored send, expected status, code, field named)
    let cases: [(&str, StatusCode, &str, Option<&str>); 10] = [
        (
            r#"{"name": "x","#,
            StatusCode::BAD_REQUEST,
            "MALFORMED_JSON",
            None,
        ),
        ("", StatusCode::BAD_REQUEST, "INVALID_BODY", None),
        ("[1,2]", StatusCode::BAD_REQUEST, "INVALID_BODY", None),
        (
            r#"{"hRes": "wide"}"#,
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            Some("hRes"),
        ),
        (
            r#"{"name": ["a"]}"#,
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            Some("name"),
        ),
        (
            r#"{"name": null}"#,
            StatusCode::BAD_REQUEST,
            "MISSING_FIELD",
            Some("name"),
        ),
        (
            r#"{"hres": 1280}"#,
            StatusCode::BAD_REQUEST,
            "UNKNOWN_FIELD",
            Some("hres"),
        ),
        (
            r#"{"version": "one"}"#,
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            Some("version"),
        ),
        (
            r#"{"name": "x", "version": 7}"#,
            StatusCode::CONFLICT,
            "VERSION_CONFLICT",
            None,
        ),
        (
            r#"{"productionId": "elsewhere"}"#,
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            Some("productionId"),
        ),
    ];
    for (body, status, code, field) in cases {
        let (got, answer) = app
            .send_raw(Method::PUT, &path, body.as_bytes().to_vec())
            .await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["code"], json!(code), "{body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
        if let Some(field) = field {
            assert_eq!(answer["field"], json!(field), "{body}");
            assert!(
                answer["error"].as_str().unwrap().contains(field),
                "{answer}"
            );
        }
    }
    let (_, after) = app.get(&path).await;
    assert_eq!(after, send, "rejected requests changed nothing");

    // Creates: missing production, unknown production, missing required field.
    let (status, body) = app
        .post("/api/sends", json!({"name": "x", "type": "y"}))
        .await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("productionId"))
    );
    let (status, body) = app
        .post(
            "/api/sends",
            json!({"productionId": "ghost", "name": "x", "type": "y"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], json!("PRODUCTION_NOT_FOUND"));
    assert_eq!(body["productionId"], json!("ghost"));
    let (status, body) = app
        .post(
            "/api/sends",
            json!({"productionId": production, "type": "y"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("MISSING_FIELD"))
    );
    assert_eq!(body["field"], json!("name"));
    let (status, body) = app
        .post(
            "/api/sources",
            json!({"productionId": production, "type": "y", "name": "n",
                                      "outputs": [{"connector": "HDMI"}, {"hRes": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], json!("outputs[1].connector"));
    let (status, body) = app
        .post(
            "/api/productions",
            json!({"name": "Show", "status": "MAYBE"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("PLANNING"),
        "{body}"
    );

    let (_, list) = app
        .get(&format!("/api/sends/production/{production}"))
        .await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "no rejected create was stored"
    );
    app.stop().await;
}

#[actix_web::test]
async fn unknown_routes_methods_and_keys_answer_json() {
    let app = spawn_app().await;
    let (status, body) = app.get("/api/no-such-family").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"error": "Route not found", "code": "ROUTE_NOT_FOUND"})
    );
    let (status, body) = app.request(Method::PATCH, "/api/productions", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], json!("METHOD_NOT_ALLOWED"));
    let (status, body) = app
        .get("/api/sources/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], json!("Source not found"));
    // A list of a show the box does not hold is empty, as the old server answered (README,
    // "Kept from the old server on purpose"); the show itself is a 404.
    let (status, body) = app.get("/api/cameras/production/ghost").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!([]));
    let (status, _) = app.get("/api/productions/ghost").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[actix_web::test]
async fn bodies_over_the_limit_get_413() {
    let app = spawn_app_with(|config| config.server.body_limit_bytes = 4096).await;
    let production = app.create_production("Limits").await;
    let note = "x".repeat(5000);
    let body = json!({"productionId": production, "type": "t", "name": "n", "note": note});
    let (status, answer) = app
        .send_raw(Method::POST, "/api/sends", body.to_string().into_bytes())
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["code"], json!("PAYLOAD_TOO_LARGE"));
    assert_eq!(answer["limit"], json!(4096));
    // Under the limit is fine.
    let body =
        json!({"productionId": production, "type": "t", "name": "n", "note": "x".repeat(3000)});
    let (status, _) = app
        .send_raw(Method::POST, "/api/sends", body.to_string().into_bytes())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.stop().await;
}

#[actix_web::test]
async fn the_default_limit_is_one_mebibyte() {
    let app = spawn_app().await;
    let production = app.create_production("Default limit").await;
    let body = json!({"productionId": production, "type": "t", "name": "n", "note": "x".repeat(1024 * 1024)});
    let (status, _) = app
        .send_raw(Method::POST, "/api/sends", body.to_string().into_bytes())
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // The old server's limit was 100 kB; the crew app needs at least that.
    let body = json!({"productionId": production, "type": "t", "name": "n", "note": "x".repeat(200 * 1024)});
    let (status, _) = app
        .send_raw(Method::POST, "/api/sends", body.to_string().into_bytes())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.stop().await;
}

/// A compressed body is not inflated (the box is built without actix's decompression): it is
/// refused as the bytes it is, with a JSON 4xx, and nothing is stored. A small gzip body that
/// would inflate past the limit therefore cannot get around it either.
#[actix_web::test]
async fn a_compressed_body_is_refused_not_inflated() {
    use std::io::Write;
    let app = spawn_app().await;
    let production = app.create_production("Compressed").await;
    let body = json!({"productionId": production, "type": "t", "name": "n",
                      "note": "x".repeat(4 * 1024 * 1024)});
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(body.to_string().as_bytes()).unwrap();
    let packed = gzip.finish().unwrap();
    assert!(packed.len() < 64 * 1024, "{} bytes packed", packed.len());
    let response = app
        .client
        .post(format!("{}/api/sends", app.address))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(packed)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.expect("the refusal is JSON");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["code"], json!("MALFORMED_JSON"), "{answer}");
    let (status, sends) = app
        .request(
            Method::GET,
            &format!("/api/sends/production/{production}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sends, json!([]));
    app.stop().await;
}

/// The OpenAPI document is generated from the registry: every family the box serves is in it,
/// and every path in it is a route of the box (a made-up key gives the kind's own 404, never
/// "Route not found").
#[actix_web::test]
async fn the_openapi_document_describes_exactly_the_served_routes() {
    let app = spawn_app().await;
    let document: Value = app
        .client
        .get(format!("{}/api/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["openapi"], "3.0.3");
    let paths = document["paths"].as_object().unwrap();
    for family in [
        "sources",
        "computers",
        "checklist-items",
        "productions",
        "equipment",
        "cables",
    ] {
        assert!(
            paths.contains_key(&format!("/api/{family}/{{key}}")),
            "{family}"
        );
    }
    assert!(paths.contains_key("/api/sources/production/{productionId}"));
    for (path, operations) in paths {
        let concrete = path
            .replace("{key}", "no-such-row")
            .replace("{productionId}", "no-such-show");
        if operations.get("get").is_none() {
            continue;
        }
        let response = app
            .client
            .get(format!("{}{concrete}", app.address))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_ne!(body["code"], "ROUTE_NOT_FOUND", "{path} is not a route");
        assert!(status == 200 || status == 404, "{path}: {status} {body}");
    }
    let source = &document["components"]["schemas"]["SourcesCreate"];
    assert_eq!(source["additionalProperties"], false);
    assert!(
        source["required"]
            .as_array()
            .unwrap()
            .contains(&json!("productionId"))
    );
    app.stop().await;
}
