//! Crew credentials: the whole route table refuses strangers and too-low roles, and lets
//! the right role through; sign-in, sessions, tokens, rate limit, headers, CORS.
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use venuebox_api::config::{AuthMode, Secret};
use venuebox_store::registry::Scope;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

pub(crate) const ADMIN: &str = "admin passphrase for tests";
const EDITOR: &str = "crew passphrase for tests";
const VIEWER: &str = "viewer passphrase for tests";

pub(crate) async fn locked_app(configure: impl FnOnce(&mut venuebox_api::Config)) -> TestApp {
    spawn_app_with(|config| {
        config.auth.mode = AuthMode::Passphrase;
        config.auth.admin_passphrase = Some(Secret::new(ADMIN));
        configure(config);
    })
    .await
}

/// Signs in and returns the `Cookie` header value.
pub(crate) async fn sign_in(app: &TestApp, passphrase: &str) -> String {
    let response = app
        .client
        .post(format!("{}/api/auth/login", app.address))
        .json(&json!({"passphrase": passphrase}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "sign-in with {passphrase:?}"
    );
    let set_cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    set_cookie.split(';').next().unwrap().to_owned()
}

pub(crate) async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}{path}", app.address));
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Needs {
    Viewer,
    Editor,
    Admin,
}

struct Route {
    method: Method,
    path: String,
    needs: Needs,
    /// False where being let through would do something this test must not (multicast).
    exercise: bool,
}

fn route(method: Method, path: impl Into<String>, needs: Needs) -> Route {
    Route {
        method,
        path: path.into(),
        needs,
        exercise: true,
    }
}

fn route_table(production: &str) -> Vec<Route> {
    let fake = "00000000-0000-0000-0000-000000000000";
    let mut routes = Vec::new();
    for kind in venuebox_api::routes::served_kinds() {
        for family in kind.families() {
            for prefix in ["/api", ""] {
                let base = format!("{prefix}/{family}");
                match kind.scope {
                    Scope::Production => {
                        routes.push(route(
                            Method::GET,
                            format!("{base}/production/{production}"),
                            Needs::Viewer,
                        ));
                        routes.push(route(Method::POST, base.clone(), Needs::Editor));
                        routes.push(route(Method::GET, format!("{base}/{fake}"), Needs::Viewer));
                        routes.push(route(Method::PUT, format!("{base}/{fake}"), Needs::Editor));
                        routes.push(route(
                            Method::DELETE,
                            format!("{base}/{fake}"),
                            Needs::Editor,
                        ));
                    }
                    Scope::Global => {
                        // The crew adds and edits library entries (the app's screens do, on
                        // site); removing one, which every show draws on, is the admin's.
                        let deletes = if kind.library {
                            Needs::Admin
                        } else {
                            Needs::Editor
                        };
                        routes.push(route(Method::GET, base.clone(), Needs::Viewer));
                        routes.push(route(Method::POST, base.clone(), Needs::Editor));
                        routes.push(route(Method::GET, format!("{base}/{fake}"), Needs::Viewer));
                        routes.push(route(Method::PUT, format!("{base}/{fake}"), Needs::Editor));
                        routes.push(route(Method::DELETE, format!("{base}/{fake}"), deletes));
                    }
                }
            }
        }
    }
    for list in venuebox_store::settings::lists().map(|l| l.path()) {
        routes.push(route(
            Method::GET,
            format!("/api/settings/{list}"),
            Needs::Viewer,
        ));
        routes.push(route(
            Method::POST,
            format!("/api/settings/{list}"),
            Needs::Admin,
        ));
        routes.push(route(
            Method::DELETE,
            format!("/api/settings/{list}/nothing"),
            Needs::Admin,
        ));
        routes.push(route(
            Method::PUT,
            format!("/api/settings/{list}/reorder"),
            Needs::Admin,
        ));
        routes.push(route(
            Method::POST,
            format!("/settings/{list}/restore-defaults"),
            Needs::Admin,
        ));
    }
    routes.extend([
        route(Method::GET, "/api/settings", Needs::Viewer),
        route(Method::GET, "/api/settings/some-key", Needs::Viewer),
        route(Method::POST, "/api/settings/some-key", Needs::Admin),
        route(Method::DELETE, "/settings/some-key", Needs::Admin),
        route(
            Method::GET,
            format!("/api/device-ports/device/{fake}"),
            Needs::Viewer,
        ),
        route(
            Method::POST,
            format!("/api/device-ports/device/{fake}/sync"),
            Needs::Editor,
        ),
        route(
            Method::DELETE,
            format!("/api/device-ports/device/{fake}"),
            Needs::Editor,
        ),
        route(
            Method::GET,
            format!("/api/cables/port/{fake}"),
            Needs::Viewer,
        ),
        route(Method::GET, "/api/server/info", Needs::Viewer),
        route(Method::POST, "/api/server/global-reset", Needs::Admin),
        Route {
            exercise: false,
            ..route(
                Method::GET,
                "/api/server/discover?timeout=100",
                Needs::Viewer,
            )
        },
        Route {
            exercise: false,
            ..route(Method::POST, "/api/server/advertise", Needs::Admin)
        },
        Route {
            exercise: false,
            ..route(Method::POST, "/server/stop-advertising", Needs::Admin)
        },
        route(Method::GET, "/metrics", Needs::Viewer),
        route(
            Method::GET,
            format!("/api/productions/{production}/export"),
            Needs::Viewer,
        ),
        route(Method::POST, "/api/productions/import", Needs::Editor),
        route(Method::GET, "/api/sync/status", Needs::Viewer),
        route(Method::GET, "/sync/status", Needs::Viewer),
        route(Method::GET, "/api/sync/conflicts", Needs::Viewer),
        route(Method::GET, "/api/sync/log", Needs::Viewer),
        route(Method::POST, "/api/sync/conflicts/1/resolve", Needs::Editor),
        route(Method::POST, "/api/sync/now", Needs::Admin),
        route(Method::POST, "/sync/now", Needs::Admin),
        route(Method::POST, "/api/sync/adopt-hub", Needs::Admin),
        route(Method::GET, "/api/sync/productions", Needs::Viewer),
        route(
            Method::POST,
            "/api/sync/production/x/download",
            Needs::Admin,
        ),
        route(Method::POST, "/api/sync/production/x/lock", Needs::Admin),
        route(Method::POST, "/api/sync/production/x/unlock", Needs::Admin),
        route(Method::GET, "/api/admin/backups", Needs::Admin),
        route(Method::GET, "/api/admin/status", Needs::Admin),
        route(Method::GET, "/admin/qr.svg?text=x", Needs::Admin),
        route(Method::POST, "/api/admin/backups", Needs::Admin),
        route(Method::GET, "/api/auth/me", Needs::Viewer),
        route(Method::GET, "/api/auth/tokens", Needs::Admin),
        route(Method::POST, "/api/auth/tokens", Needs::Admin),
        route(Method::DELETE, "/api/auth/tokens/nothing", Needs::Admin),
        route(Method::POST, "/api/auth/passphrases", Needs::Admin),
        route(
            Method::GET,
            "/socket.io/?EIO=4&transport=websocket",
            Needs::Viewer,
        ),
    ]);
    routes
}

/// A locked box with a session for each role and one production the editor made.
struct Crew {
    app: TestApp,
    admin: String,
    editor: String,
    viewer: String,
    production: String,
}

async fn crew(production_name: &str) -> Crew {
    // These tests send thousands of requests at once from one address to reach every gate;
    // the limit on crowds from one address has its own tests (limits.rs).
    let app = locked_app(|config| {
        config.server.unauthenticated_connections_per_address = usize::MAX;
        config.server.connections_per_address = usize::MAX;
    })
    .await;
    let admin = sign_in(&app, ADMIN).await;
    for (role, passphrase) in [("editor", EDITOR), ("viewer", VIEWER)] {
        let (status, _) = call(
            &app,
            Method::POST,
            "/api/auth/passphrases",
            Some(&admin),
            Some(&json!({"role": role, "passphrase": passphrase})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let editor = sign_in(&app, EDITOR).await;
    let viewer = sign_in(&app, VIEWER).await;
    let (status, production) = call(
        &app,
        Method::POST,
        "/api/productions",
        Some(&editor),
        Some(&json!({"name": production_name})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let production = production["id"].as_str().unwrap().to_owned();
    Crew {
        app,
        admin,
        editor,
        viewer,
        production,
    }
}

#[actix_web::test]
async fn every_route_refuses_strangers_and_lower_roles_and_admits_the_right_one() {
    let Crew {
        app,
        admin,
        editor,
        viewer,
        production,
    } = crew("Locked").await;

    let routes = route_table(&production);
    assert!(routes.len() > 250, "{} routes", routes.len());
    // An empty object: enough to pass or fail validation after authorization, never to change data.
    let body = json!({"role": "nobody"});
    for r in &routes {
        let with_body = matches!(r.method, Method::POST | Method::PUT).then_some(&body);
        let (status, answer) = call(&app, r.method.clone(), &r.path, None, with_body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{} {} without credentials: {answer}",
            r.method,
            r.path
        );
        assert_eq!(answer["code"], json!("UNAUTHENTICATED"));
        for (cookie, level) in [
            (&viewer, Needs::Viewer),
            (&editor, Needs::Editor),
            (&admin, Needs::Admin),
        ] {
            if level < r.needs {
                let (status, answer) =
                    call(&app, r.method.clone(), &r.path, Some(cookie), with_body).await;
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{} {} as a lower role: {answer}",
                    r.method,
                    r.path
                );
                assert_eq!(answer["code"], json!("INSUFFICIENT_ROLE"));
            } else if r.exercise {
                let (status, answer) =
                    call(&app, r.method.clone(), &r.path, Some(cookie), with_body).await;
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{} {} with the right role answered {status}: {answer}",
                    r.method,
                    r.path
                );
            }
        }
    }
    // Health stays public for probes.
    let (status, _) = call(&app, Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&app, Method::GET, "/api/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    // The sign-in page's icon request is not refused (no app folder here: nothing to send).
    let (status, _) = call(&app, Method::GET, "/favicon.ico", None, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.stop().await;
}

/// Sends one request exactly as written (no URL normalisation, unlike an HTTP client
/// library) and returns its status: what an attacker with a socket does.
async fn raw_status(app: &TestApp, method: &Method, target: &str, cookie: Option<&str>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let body = if matches!(*method, Method::POST | Method::PUT) {
        r#"{"role":"admin","name":"x","passphrase":"attacker passphrase"}"#
    } else {
        ""
    };
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\n{cookie}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line for {method} {target}: {answer}"))
}

/// Other spellings of `path` an attacker tries: each character percent-encoded on its own
/// (lower- and upper-case hex), everything encoded, `%2F` for each slash, double encoding,
/// other letter case, trailing slash, doubled slashes, dot segments, and the `/api` prefix
/// added or removed.
fn encoded_variants(target: &str) -> Vec<String> {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, format!("?{query}")),
        None => (target, String::new()),
    };
    let bytes = path.as_bytes();
    let mut variants = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' {
            let hex = if i % 2 == 0 {
                format!("%{b:02x}")
            } else {
                format!("%{b:02X}")
            };
            variants.push(format!("{}{hex}{}", &path[..i], &path[i + 1..]));
        }
        if b == b'/' && i > 0 {
            variants.push(format!("{}%2F{}", &path[..i], &path[i + 1..]));
            variants.push(format!("{}%2f{}", &path[..i], &path[i + 1..]));
            variants.push(format!("{}//{}", &path[..i], &path[i + 1..]));
        }
    }
    let all: String = path
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                format!("%{b:02X}")
            } else {
                (b as char).to_string()
            }
        })
        .collect();
    variants.push(all);
    if let Some(i) = path.bytes().position(|b| b.is_ascii_alphabetic()) {
        let b = bytes[i];
        variants.push(format!("{}%25{b:02x}{}", &path[..i], &path[i + 1..]));
        variants.push(format!("{}%2525{b:02x}{}", &path[..i], &path[i + 1..]));
    }
    variants.push(path.to_uppercase());
    variants.push(
        path.split('/')
            .map(|s| {
                let mut c = s.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            })
            .collect::<Vec<String>>()
            .join("/"),
    );
    variants.push(format!("{path}/"));
    variants.push(format!("/{path}"));
    variants.push(format!("{path}/."));
    variants.push(format!("/./{}", &path[1..]));
    variants.push(format!("/x/..{path}"));
    variants.push(format!("/x/%2e%2e{path}"));
    variants.push(format!("{path}%00"));
    variants.push(format!("{path};x"));
    match path.strip_prefix("/api") {
        Some(rest) if rest.starts_with('/') => variants.push(rest.to_owned()),
        _ => variants.push(format!("/api{path}")),
    }
    variants.sort();
    variants.dedup();
    variants.retain(|v| v != path);
    variants
        .into_iter()
        .map(|v| format!("{v}{query}"))
        .collect()
}

/// Access is decided on what the router matched, so no spelling of a path lets a stranger or
/// a lower role through: each route, under every spelling in [`encoded_variants`], is refused
/// (401/403) or names no route at all (404/405/400) for every credential below its role.
#[actix_web::test]
async fn no_spelling_of_a_path_gets_past_its_role() {
    let Crew {
        app,
        editor,
        viewer,
        production,
        ..
    } = crew("Encoded").await;

    // The escalations reported against the release binary, exactly as sent.
    for (method, target, cookie) in [
        (Method::POST, "/api/auth/%74okens", &editor),
        (Method::POST, "/api/auth/p%61ssphrases", &editor),
        (Method::GET, "/api/%61dmin/status", &viewer),
        (Method::GET, "/%61dmin", &viewer),
        (Method::GET, "/%61dmin/backups", &viewer),
        (Method::GET, "/api/%61dmin/backups", &viewer),
    ] {
        let status = raw_status(&app, &method, target, Some(cookie)).await;
        assert!(
            status == 403 || status == 404,
            "{method} {target} as a lower role answered {status}"
        );
    }

    let mut tried = 0;
    let mut refused = 0;
    for r in route_table(&production) {
        let lower: Vec<Option<&str>> = [
            (None, None),
            (Some(viewer.as_str()), Some(Needs::Viewer)),
            (Some(editor.as_str()), Some(Needs::Editor)),
        ]
        .into_iter()
        .filter(|(_, level)| level.is_none_or(|l| l < r.needs))
        .map(|(cookie, _)| cookie)
        .collect();
        let variants = encoded_variants(&r.path);
        let attempts: Vec<(&str, Option<&str>)> = variants
            .iter()
            .flat_map(|target| lower.iter().map(move |cookie| (target.as_str(), *cookie)))
            .collect();
        let app = &app;
        let method = &r.method;
        let checks = attempts.into_iter().map(|(target, cookie)| async move {
            let status = raw_status(app, method, target, cookie).await;
            (method, target, cookie.is_some(), status)
        });
        for (method, target, signed_in, status) in futures_util::future::join_all(checks).await {
            tried += 1;
            assert!(
                matches!(status, 400 | 401 | 403 | 404 | 405),
                "{method} {target} ({}) answered {status}: past its role",
                if signed_in {
                    "lower role"
                } else {
                    "no credentials"
                }
            );
            refused += usize::from(matches!(status, 401 | 403));
        }
    }
    assert!(tried > 10_000, "{tried} attempts");
    // Most spellings route to the same handler (actix decodes the path): they must be refused
    // by its gate, not merely miss.
    assert!(
        refused > tried / 4,
        "{refused} of {tried} refused by a gate"
    );
    app.stop().await;
}

#[actix_web::test]
async fn wrong_passphrases_are_rate_limited_per_address() {
    let app = locked_app(|config| config.auth.login_attempts = 3).await;
    for _ in 0..3 {
        let (status, body) = call(
            &app,
            Method::POST,
            "/api/auth/login",
            None,
            Some(&json!({"passphrase": "guess"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["code"], json!("INVALID_CREDENTIALS"));
    }
    let response = app
        .client
        .post(format!("{}/api/auth/login", app.address))
        .json(&json!({"passphrase": ADMIN}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right passphrase waits"
    );
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    app.stop().await;
}

#[actix_web::test]
async fn sessions_expire_and_logout_and_passphrase_changes_end_them() {
    let app = locked_app(|config| config.auth.session_minutes = 0).await;
    let expired = sign_in(&app, ADMIN).await;
    let (status, _) = call(&app, Method::GET, "/api/productions", Some(&expired), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a session past its lifetime is refused"
    );
    app.stop().await;

    let app = locked_app(|_| {}).await;
    let admin = sign_in(&app, ADMIN).await;
    let (status, me) = call(&app, Method::GET, "/api/auth/me", Some(&admin), None).await;
    assert_eq!(
        (status, me["role"].clone()),
        (StatusCode::OK, json!("admin"))
    );
    call(
        &app,
        Method::POST,
        "/api/auth/passphrases",
        Some(&admin),
        Some(&json!({"role": "editor", "passphrase": EDITOR})),
    )
    .await;
    let editor = sign_in(&app, EDITOR).await;
    call(
        &app,
        Method::POST,
        "/api/auth/passphrases",
        Some(&admin),
        Some(&json!({"role": "editor", "passphrase": "a new crew passphrase"})),
    )
    .await;
    let (status, _) = call(&app, Method::GET, "/api/productions", Some(&editor), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "changing the crew passphrase signs the crew out"
    );
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/auth/login",
        None,
        Some(&json!({"passphrase": EDITOR})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old passphrase no longer works"
    );
    let (status, _) = call(&app, Method::POST, "/logout", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&app, Method::GET, "/api/productions", Some(&admin), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "signed out");
    app.stop().await;
}

#[actix_web::test]
async fn device_tokens_work_until_revoked() {
    let app = locked_app(|_| {}).await;
    let admin = sign_in(&app, ADMIN).await;
    let (status, created) = call(
        &app,
        Method::POST,
        "/api/auth/tokens",
        Some(&admin),
        Some(&json!({"role": "editor", "name": "FOH laptop"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let bearer = |method: Method, path: &str| {
        app.client
            .request(method, format!("{}{path}", app.address))
            .bearer_auth(&token)
    };
    let response = bearer(Method::POST, "/api/productions")
        .json(&json!({"name": "By token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = bearer(Method::POST, "/api/auth/tokens")
        .json(&json!({"role": "admin", "name": "escalate"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "an editor token is not admin"
    );

    let (_, listed) = call(&app, Method::GET, "/api/auth/tokens", Some(&admin), None).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], json!("FOH laptop"));
    assert!(
        !listed[0].to_string().contains(&token),
        "the secret is never listed"
    );

    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/auth/tokens/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let response = bearer(Method::GET, "/api/productions")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "revocation takes effect at once"
    );
    let response = app
        .client
        .get(format!("{}/api/productions", app.address))
        .bearer_auth("vbx_made_up")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[actix_web::test]
async fn browsers_are_sent_to_the_login_page_and_get_a_cookie() {
    let app = locked_app(|_| {}).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/api/productions", app.address))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/login?next=/api/productions"
    );
    let page = client
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<form method=\"post\" action=\"/login\">"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resources"
    );
    let response = client
        .post(format!("{}/login", app.address))
        .form(&[("passphrase", ADMIN), ("next", "/api/productions")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/api/productions");
    assert!(
        response.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .starts_with("venuebox_session=")
    );
    let response = client
        .post(format!("{}/login", app.address))
        .form(&[("passphrase", "nope"), ("next", "//evil.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/login?failed=1&next=/"
    );
    app.stop().await;
}

#[actix_web::test]
async fn security_headers_on_every_answer_and_cors_only_for_configured_origins() {
    let app =
        locked_app(|config| config.auth.cors_origins = vec!["http://localhost:3011".into()]).await;
    for path in ["/api/productions", "/api/nothing", "/health", "/login"] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        for name in [
            "x-content-type-options",
            "x-frame-options",
            "referrer-policy",
            "content-security-policy",
        ] {
            assert!(response.headers().contains_key(name), "{path} lacks {name}");
        }
    }
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, format!("{}/api/sources", app.address))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
    };
    let allowed = preflight("http://localhost:3011").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:3011"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let stranger = preflight("http://caterer.example").await.unwrap();
    assert!(
        !stranger
            .headers()
            .contains_key("access-control-allow-origin")
    );
    app.stop().await;
}

#[actix_web::test]
async fn the_crew_web_app_is_served_behind_the_login_and_shares_paths_with_the_api() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(
        site.path().join("index.html"),
        "<!doctype html><title>Crew app</title>",
    )
    .unwrap();
    std::fs::create_dir(site.path().join("assets")).unwrap();
    std::fs::write(site.path().join("assets/app.js"), "console.log('crew')").unwrap();
    std::fs::write(site.path().join("reset-app.html"), "<title>Reset</title>").unwrap();
    let dir = site.path().to_owned();
    let app = locked_app(move |config| config.ui.static_dir = dir).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, accept: &str, cookie: Option<&str>| {
        let mut request = client
            .get(format!("{}{path}", app.address))
            .header(header::ACCEPT, accept);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.send()
    };
    let html = "text/html,application/xhtml+xml";
    let stranger = get("/equipment", html, None).await.unwrap();
    assert_eq!(
        stranger.status(),
        StatusCode::FOUND,
        "the app is behind the login"
    );
    let cookie = sign_in(&app, ADMIN).await;
    let cookie = Some(cookie.as_str());
    for page in ["/", "/equipment", "/projects", "/projects/123/sources"] {
        let response = get(page, html, cookie).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        assert!(
            response.text().await.unwrap().contains("Crew app"),
            "{page} is the app"
        );
    }
    let reset = get("/reset-app.html", html, cookie)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reset.contains("Reset"));
    let script = get("/assets/app.js", "*/*", cookie).await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let api = get("/equipment", "application/json, text/plain, */*", cookie)
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    let specs: Value = api.json().await.unwrap();
    assert_eq!(
        specs.as_array().unwrap().len(),
        257,
        "an API call at the same path gets JSON"
    );
    let missing = get("/missing.js", "*/*", cookie).await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["code"],
        json!("ROUTE_NOT_FOUND")
    );
    let climbing = get("/assets/../../etc/passwd", "*/*", cookie)
        .await
        .unwrap();
    assert_eq!(climbing.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn page(app: &TestApp, path: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut request = app
        .client
        .get(format!("{}{path}", app.address))
        .header(header::ACCEPT, "text/html");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[actix_web::test]
async fn the_status_page_is_for_the_admin_and_announces_open_mode() {
    let app = locked_app(|config| config.node.name = "FOH rack".into()).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let stranger = no_redirects
        .get(format!("{}/admin", app.address))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert!(stranger.status().is_redirection(), "{}", stranger.status());
    let admin = sign_in(&app, ADMIN).await;
    let (status, html) = page(&app, "/admin", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Venuebox — FOH rack"), "{html}");
    assert!(
        !html.contains("Open mode"),
        "passphrase mode has no warning"
    );
    assert!(html.contains(r#"<script src="/admin/admin.js">"#));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing external"
    );
    let (status, script) = page(&app, "/admin/admin.js", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(script.contains("/api/sync/status"));

    // What the page shows beyond sync: how to reach the box, clients, disk.
    let (status, facts) = call(&app, Method::GET, "/api/admin/status", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{facts}");
    assert_eq!(facts["nodeName"], "FOH rack");
    let url = format!("{}/", app.address);
    assert_eq!(
        facts["urls"][0]["url"],
        json!(url),
        "bound to loopback: one URL"
    );
    assert_eq!(facts["connectedClients"], 0);
    assert!(facts["disk"]["databaseBytes"].as_u64().unwrap() > 0);
    assert!(facts["disk"]["filesystemAvailableBytes"].as_u64().unwrap() > 0);
    let qr = facts["urls"][0]["qr"].as_str().unwrap();
    let response = app
        .client
        .get(format!("{}{qr}", app.address))
        .header(header::COOKIE, &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/svg+xml");
    assert!(response.text().await.unwrap().contains("<svg"));
    let (status, error) = call(
        &app,
        Method::GET,
        &format!("/admin/qr.svg?text={}", "x".repeat(300)),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"].as_str().unwrap().contains("\"text\""),
        "{error}"
    );
    app.stop().await;

    let open = spawn_app().await;
    let (status, html) = page(&open, "/admin", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Open mode: anyone on this network"), "{html}");
    open.stop().await;
}
