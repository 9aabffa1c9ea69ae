//! Pages of other sites, open in a crew member's browser, using the crew's cookie: the
//! browser sends it with any request a page makes. Changes and websocket handshakes carried
//! by a session must come from the box's own pages (or `auth.cors_origins`), and JSON bodies
//! must say they are JSON, so that a page elsewhere cannot make a "simple request" the
//! browser does not ask about first.
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::auth::{ADMIN, locked_app, sign_in};
use crate::helpers::TestApp;

async fn post(
    app: &TestApp,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(format!("{}{path}", app.address))
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn json_bodies_must_be_sent_as_json() {
    let app = locked_app(|_| {}).await;
    let cookie = sign_in(&app, ADMIN).await;
    let body = json!({"name": "Typed"}).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut headers = vec![("cookie", cookie.clone())];
        if let Some(content_type) = content_type {
            headers.push(("content-type", content_type.to_owned()));
        }
        let (status, answer) = post(&app, "/api/productions", &headers, &body).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        assert_eq!(answer["code"], "UNSUPPORTED_MEDIA_TYPE");
    }
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.venuebox+json",
    ] {
        let headers = [
            ("cookie", cookie.clone()),
            ("content-type", content_type.to_owned()),
        ];
        let (status, _) = post(&app, "/api/productions", &headers, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{content_type}");
    }
    app.stop().await;
}

#[actix_web::test]
async fn a_session_changes_nothing_from_another_origin() {
    let app = locked_app(|config| {
        config.auth.cors_origins = vec!["http://localhost:3011".into()];
    })
    .await;
    let cookie = sign_in(&app, ADMIN).await;
    let own = app.address.clone();
    // Another port of the same host is another origin.
    let port: u16 = own.rsplit(':').next().unwrap().parse().unwrap();
    let other_port = format!("http://127.0.0.1:{}", port.wrapping_add(1));
    let json_type = ("content-type", "application/json".to_owned());
    let body = json!({"name": "From elsewhere"}).to_string();
    for origin in [
        other_port.as_str(),
        "http://evil.example",
        "null",
        "https://127.0.0.1",
    ] {
        let headers = [
            ("cookie", cookie.clone()),
            json_type.clone(),
            ("origin", origin.to_owned()),
        ];
        let (status, answer) = post(&app, "/api/productions", &headers, &body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}");
        assert_eq!(answer["code"], "FOREIGN_ORIGIN");
    }
    for origin in [Some(own.as_str()), Some("http://localhost:3011"), None] {
        let mut headers = vec![("cookie", cookie.clone()), json_type.clone()];
        if let Some(origin) = origin {
            headers.push(("origin", origin.to_owned()));
        }
        let (status, _) = post(&app, "/api/productions", &headers, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{origin:?}");
    }
    // Reading is not a change: a foreign page cannot read the answer anyway (CORS).
    let response = app
        .client
        .get(format!("{own}/api/productions"))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        !response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );

    // The realtime handshake with the cookie, from another site: refused.
    let url = format!("{own}/socket.io/?EIO=4&transport=websocket");
    let refused = awc::Client::new()
        .ws(url.clone())
        .origin("http://evil.example")
        .header(header::COOKIE.as_str(), cookie.clone())
        .connect()
        .await;
    match refused {
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            assert_eq!(status.as_u16(), 403)
        }
        Err(other) => panic!("unexpected: {other}"),
        Ok(_) => panic!("a foreign page opened the crew's realtime socket"),
    }
    awc::Client::new()
        .ws(url)
        .origin(own.as_str())
        .header(header::COOKIE.as_str(), cookie)
        .connect()
        .await
        .expect("the box's own page opens it");
    app.stop().await;
}
