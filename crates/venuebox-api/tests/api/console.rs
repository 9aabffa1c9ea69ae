//! The operator console's API, attacked as the README promises: the setup wizard takes `/`
//! only on a box never set up; node settings are validated, survive a restart, and never
//! show the hub's password; a crew app upload that escapes its folder or is not an app
//! changes nothing; a backup downloads byte for byte and a staged restore is applied at the
//! next start with the replaced database kept; a device token in a tablet's cookie is revoked
//! at once and cannot be used by another site's page; lists of an unknown production answer
//! `200 []`.
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use venuebox_api::config::{AuthMode, Secret};

use crate::auth::{ADMIN, call, locked_app, sign_in};
use crate::helpers::TestApp;

const CREW: &str = "crew passphrase for the console";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn navigate(app: &TestApp, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = no_redirects()
        .get(format!("{}{path}", app.address))
        .header(header::ACCEPT, "text/html");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.send().await.unwrap()
}

async fn upload(app: &TestApp, cookie: &str, body: Vec<u8>, kind: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/api/admin/app", app.address))
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, kind)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

fn built_app(marker: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    std::fs::write(
        dir.path().join("dist/index.html"),
        format!("<title>{marker}</title>"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("dist/assets")).unwrap();
    std::fs::write(dir.path().join("dist/assets/app.js"), "console.log(1)").unwrap();
    venuebox_api::app_install::pack_folder(dir.path()).unwrap()
}

/// A `.tar.gz` whose one entry is named `name` byte for byte (the tar crate's builder refuses
/// to write a path that climbs out, so the header is written by hand).
fn tar_with_raw_name(name: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    header.set_size(5);
    header.set_mode(0o644);
    header.set_cksum();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    builder.append(&header, &b"owned"[..]).unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

#[tokio::test]
async fn a_fresh_box_opens_at_its_setup_and_stops_once_it_is_done() {
    let app = locked_app(|_| {}).await;
    let home = navigate(&app, "/", None).await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(home.headers()[header::LOCATION], "/setup");
    let wizard = navigate(&app, "/setup", None).await;
    assert_eq!(wizard.status(), StatusCode::OK);
    let page = wizard.text().await.unwrap();
    assert!(page.contains("Sign in as admin"), "{page}");
    assert!(!page.contains("<script>"), "no inline script (CSP)");
    // The wizard's API is the admin's.
    let (status, _) = call(&app, Method::GET, "/api/admin/setup", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let admin = sign_in(&app, ADMIN).await;
    let (_, setup) = call(&app, Method::GET, "/api/admin/setup", Some(&admin), None).await;
    assert_eq!(setup["pending"], true);
    assert_eq!(setup["crewPassphraseSet"], false);
    let (status, done) = call(
        &app,
        Method::POST,
        "/api/admin/setup/complete",
        Some(&admin),
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    // Done: `/` is the box's own page (no crew app yet), for anyone, and says what to do.
    let home = navigate(&app, "/", None).await;
    assert_eq!(home.status(), StatusCode::OK);
    let page = home.text().await.unwrap();
    assert!(page.contains("No crew app is installed yet"), "{page}");
    assert!(page.contains("VITE_API_URL=/api"), "{page}");
    // And stays done across a restart.
    let app = app
        .restart_with(|config| {
            config.auth.mode = AuthMode::Passphrase;
            config.auth.admin_passphrase = Some(Secret::new(ADMIN));
        })
        .await;
    assert_eq!(navigate(&app, "/", None).await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_box_set_up_by_hand_is_not_sent_through_the_wizard() {
    let app = locked_app(|_| {}).await;
    let admin = sign_in(&app, ADMIN).await;
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/auth/passphrases",
        Some(&admin),
        Some(&json!({"role": "editor", "passphrase": CREW})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let app = app
        .restart_with(|config| {
            config.auth.mode = AuthMode::Passphrase;
            config.auth.admin_passphrase = Some(Secret::new(ADMIN));
        })
        .await;
    assert_eq!(navigate(&app, "/", None).await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn node_settings_are_checked_kept_across_a_restart_and_never_show_the_password() {
    let app = locked_app(|_| {}).await;
    let admin = sign_in(&app, ADMIN).await;
    let put = |body: Value| {
        let admin = admin.clone();
        let app = &app;
        async move {
            call(
                app,
                Method::PUT,
                "/api/admin/node",
                Some(&admin),
                Some(&body),
            )
            .await
        }
    };
    for (bad, field) in [
        (json!({"nodeName": ""}), "nodeName"),
        (json!({"nodeName": "a\u{7}b"}), "nodeName"),
        (json!({"nodeName": "x".repeat(64)}), "nodeName"),
        (json!({"nodeName": 7}), "nodeName"),
        (json!({"hubUrl": "http://not-postgres"}), "hubUrl"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let (status, body) = put(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["field"], field, "{body}");
    }
    // A hub nobody answers at: saved and in use at once (it is the operator's to decide), its
    // password masked in every answer.
    let secret_url = "postgres://venuebox:hunter2-secret@127.0.0.1:9/hub";
    let (status, node) = put(json!({"nodeName": "Truck 2", "hubUrl": secret_url})).await;
    assert_eq!(status, StatusCode::OK, "{node}");
    assert_eq!(node["nodeName"], "Truck 2");
    assert_eq!(
        node["restartNeeded"], true,
        "the name shows after a restart"
    );
    assert_eq!(node["hubConfigured"], true);
    assert!(!node.to_string().contains("hunter2"), "{node}");
    let (_, sync) = call(&app, Method::GET, "/api/sync/status", Some(&admin), None).await;
    assert_eq!(
        sync["configured"], true,
        "the new hub is in use without a restart"
    );
    assert!(!sync.to_string().contains("hunter2"), "{sync}");
    let (_, tested) = call(
        &app,
        Method::POST,
        "/api/admin/hub/test",
        Some(&admin),
        Some(&json!({})),
    )
    .await;
    assert_eq!(tested["ok"], false, "{tested}");
    assert!(!tested.to_string().contains("hunter2"), "{tested}");
    // The file holding it is the service user's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(app.data_dir.join("settings.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "settings.toml is private: {mode:o}");
    }
    let app = app
        .restart_with(|config| {
            config.auth.mode = AuthMode::Passphrase;
            config.auth.admin_passphrase = Some(Secret::new(ADMIN));
        })
        .await;
    let admin = sign_in(&app, ADMIN).await;
    let (_, node) = call(&app, Method::GET, "/api/admin/node", Some(&admin), None).await;
    assert_eq!(node["runningNodeName"], "Truck 2", "{node}");
    assert_eq!(node["restartNeeded"], false);
    assert_eq!(node["hubConfigured"], true);
    // Back to no hub.
    let (status, node) = call(
        &app,
        Method::PUT,
        "/api/admin/node",
        Some(&admin),
        Some(&json!({"hubUrl": ""})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(node["hubConfigured"], false);
    // The crew cannot touch any of it.
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/auth/passphrases",
        Some(&admin),
        Some(&json!({"role": "editor", "passphrase": CREW})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let crew = sign_in(&app, CREW).await;
    for (method, path) in [
        (Method::GET, "/api/admin/node"),
        (Method::PUT, "/api/admin/node"),
        (Method::GET, "/api/admin/logs"),
        (Method::GET, "/api/admin/clients"),
        (Method::GET, "/api/admin/app"),
        (Method::POST, "/api/admin/app/rollback"),
        (Method::POST, "/api/admin/qr"),
    ] {
        let (status, _) = call(&app, method.clone(), path, Some(&crew), Some(&json!({}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_crew_app_installs_serves_at_once_rolls_back_and_refuses_what_escapes() {
    let app = locked_app(|_| {}).await;
    let admin = sign_in(&app, ADMIN).await;
    let (status, body) = upload(&app, &admin, built_app("first build"), "application/gzip").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["installed"]["files"], 2);
    let page = navigate(&app, "/", Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("first build"), "served at once: {page}");
    let (status, _) = upload(&app, &admin, built_app("second build"), "application/gzip").await;
    assert_eq!(status, StatusCode::CREATED);
    let page = navigate(&app, "/projects/1", Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("second build"), "{page}");

    // Archives that must change nothing.
    let mut zip_bytes = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut zip_bytes);
        zip.start_file("assets/x.js", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, b"x").unwrap();
        zip.finish().unwrap();
    }
    for (archive, kind, expected, why) in [
        (
            tar_with_raw_name(b"../../outside.html"),
            "application/gzip",
            StatusCode::BAD_REQUEST,
            "climbs out",
        ),
        (
            tar_with_raw_name(b"/etc/cron.d/x"),
            "application/gzip",
            StatusCode::BAD_REQUEST,
            "absolute",
        ),
        (
            zip_bytes.into_inner(),
            "application/zip",
            StatusCode::BAD_REQUEST,
            "no index.html",
        ),
        (
            b"<html>not an archive</html>".to_vec(),
            "application/zip",
            StatusCode::BAD_REQUEST,
            "not a .zip or .tar.gz",
        ),
        (
            built_app("typed wrong"),
            "text/html",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ".zip or .tar.gz body",
        ),
    ] {
        let (status, body) = upload(&app, &admin, archive, kind).await;
        assert_eq!(status, expected, "{why}: {body}");
        assert!(body["error"].as_str().unwrap().contains(why), "{body}");
    }
    assert!(
        !app.data_dir.join("../outside.html").exists()
            && !app.data_dir.join("ui/outside.html").exists()
    );
    let page = navigate(&app, "/", Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("second build"), "still the good app: {page}");

    // One click back, and forward again.
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/admin/app/rollback",
        Some(&admin),
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page = navigate(&app, "/", Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("first build"), "{page}");
    // The installed app survives a restart.
    let app = app
        .restart_with(|config| {
            config.auth.mode = AuthMode::Passphrase;
            config.auth.admin_passphrase = Some(Secret::new(ADMIN));
        })
        .await;
    let admin = sign_in(&app, ADMIN).await;
    let page = navigate(&app, "/", Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("first build"), "{page}");
    // Strangers still get the sign-in page, not the app.
    let stranger = navigate(&app, "/", None).await;
    assert_eq!(stranger.status(), StatusCode::FOUND);
    app.stop().await;
}

#[tokio::test]
async fn a_backup_downloads_whole_and_a_staged_restore_is_applied_at_the_next_start() {
    let app = locked_app(|_| {}).await;
    let admin = sign_in(&app, ADMIN).await;
    let production = app.create_production_as(&admin, "Before the backup").await;
    let (status, made) = call(
        &app,
        Method::POST,
        "/api/admin/backups",
        Some(&admin),
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let file = made["file"].as_str().unwrap().to_owned();
    let downloaded = app
        .client
        .get(format!("{}/api/admin/backups/{file}", app.address))
        .header(header::COOKIE, &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(downloaded.status(), StatusCode::OK);
    assert!(
        downloaded.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let bytes = downloaded.bytes().await.unwrap();
    assert_eq!(
        bytes.as_ref(),
        std::fs::read(app.data_dir.join("backups").join(&file)).unwrap(),
        "byte for byte"
    );
    // Only listed backups, by name: no path gets out of the folder.
    for path in [
        "/api/admin/backups/venuebox.db",
        "/api/admin/backups/..%2Fvenuebox.db",
        "/api/admin/backups/%2e%2e%2fvenuebox.db",
        "/api/admin/backups/nope.db/restore",
    ] {
        let method = if path.ends_with("/restore") {
            Method::POST
        } else {
            Method::GET
        };
        let (status, body) = call(&app, method, path, Some(&admin), Some(&json!({}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }

    // A change after the backup, then the backup staged: nothing happens until the restart.
    let (status, _) = call(
        &app,
        Method::PUT,
        &format!("/api/productions/{production}"),
        Some(&admin),
        Some(&json!({"name": "After the backup", "version": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, staged) = call(
        &app,
        Method::POST,
        &format!("/api/admin/backups/{file}/restore"),
        Some(&admin),
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{staged}");
    let (_, list) = call(&app, Method::GET, "/api/admin/backups", Some(&admin), None).await;
    assert_eq!(list["stagedRestore"], file.as_str());
    let (_, row) = call(
        &app,
        Method::GET,
        &format!("/api/productions/{production}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(row["name"], "After the backup");

    let app = app
        .restart_with(|config| {
            config.auth.mode = AuthMode::Passphrase;
            config.auth.admin_passphrase = Some(Secret::new(ADMIN));
        })
        .await;
    let admin = sign_in(&app, ADMIN).await;
    let (_, row) = call(
        &app,
        Method::GET,
        &format!("/api/productions/{production}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(row["name"], "Before the backup", "restored at the start");
    let (_, list) = call(&app, Method::GET, "/api/admin/backups", Some(&admin), None).await;
    assert_eq!(list["stagedRestore"], Value::Null, "applied once");
    // The database it replaced was kept: two backups now.
    assert_eq!(list["backups"].as_array().unwrap().len(), 2, "{list}");
    app.stop().await;
}

#[tokio::test]
async fn a_tablet_signed_in_by_token_loses_access_when_the_token_is_revoked() {
    let app = locked_app(|_| {}).await;
    let admin = sign_in(&app, ADMIN).await;
    let (_, made) = call(
        &app,
        Method::POST,
        "/api/auth/tokens",
        Some(&admin),
        Some(&json!({"name": "FOH tablet", "role": "editor"})),
    )
    .await;
    let token = made["token"].as_str().unwrap().to_owned();
    // The QR code of its sign-in link is drawn from a POST body, never a URL.
    let qr = app
        .client
        .post(format!("{}/api/admin/qr", app.address))
        .header(header::COOKIE, &admin)
        .json(&json!({"text": format!("{}/login#token={token}", app.address)}))
        .send()
        .await
        .unwrap();
    assert_eq!(qr.status(), StatusCode::OK);
    assert!(qr.text().await.unwrap().starts_with("<?xml"));

    let (status, _) = call(
        &app,
        Method::POST,
        "/api/auth/token",
        None,
        Some(&json!({"token": "vbx_not-a-token"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let signed = app
        .client
        .post(format!("{}/api/auth/token", app.address))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::OK);
    let set_cookie = signed.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    let tablet = set_cookie.split(';').next().unwrap().to_owned();
    let (status, me) = call(&app, Method::GET, "/api/auth/me", Some(&tablet), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "editor");
    // A cookie is ambient: another site's page cannot use it to change anything.
    let foreign = app
        .client
        .post(format!("{}/api/productions", app.address))
        .header(header::COOKIE, &tablet)
        .header(header::ORIGIN, "http://evil.example")
        .json(&json!({"name": "Injected", "client": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/productions",
        Some(&tablet),
        Some(&json!({"name": "From the tablet", "client": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let id = made["id"].as_str().unwrap();
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/auth/tokens/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&app, Method::GET, "/api/productions", Some(&tablet), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked at once");
    let page = navigate(&app, "/admin", Some(&tablet)).await;
    assert_eq!(
        page.status(),
        StatusCode::FOUND,
        "a browser with a revoked token is sent to sign in"
    );
    app.stop().await;
}

#[tokio::test]
async fn lists_of_an_unknown_production_answer_an_empty_list_as_the_old_server_did() {
    let app = crate::helpers::spawn_app().await;
    let response = app
        .client
        .get(format!(
            "{}/api/led-screens/production/local-cache-17",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-venuebox-production"], "unknown");
    assert_eq!(response.json::<Value>().await.unwrap(), json!([]));
    // The production itself is still a 404: that is where "unknown" is told apart.
    let (status, _) = app.get("/api/productions/local-cache-17").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

/// The console lists who holds a realtime socket: role, the name the app gave in
/// `production:join`, the kind of credential (never the secret), the address.
#[actix_web::test]
async fn connected_clients_are_listed_by_role_and_name_without_their_secrets() {
    use futures_util::{SinkExt, StreamExt};
    let app = locked_app(|_| {}).await;
    let admin = sign_in(&app, ADMIN).await;
    let (_, made) = call(
        &app,
        Method::POST,
        "/api/auth/tokens",
        Some(&admin),
        Some(&json!({"name": "Camera 3 laptop", "role": "viewer"})),
    )
    .await;
    let token = made["token"].as_str().unwrap().to_owned();
    let production = app.create_production_as(&admin, "Clients").await;
    let (_, mut socket) = awc::Client::new()
        .ws(format!(
            "{}/socket.io/?EIO=4&transport=websocket",
            app.address.replace("http", "ws")
        ))
        .header("authorization", format!("Bearer {token}"))
        .connect()
        .await
        .expect("the viewer's socket opens");
    socket.next().await.unwrap().unwrap(); // Engine.IO open
    socket
        .send(awc::ws::Message::Text("40".into()))
        .await
        .unwrap();
    socket.next().await.unwrap().unwrap(); // Socket.IO connect
    let join = format!(
        r#"42["production:join",{{"productionId":"{production}","userId":"u7","userName":"Sam at camera 3"}}]"#
    );
    socket
        .send(awc::ws::Message::Text(join.into()))
        .await
        .unwrap();
    let mut listed = Value::Null;
    for _ in 0..50 {
        let (_, clients) = call(&app, Method::GET, "/api/admin/clients", Some(&admin), None).await;
        if clients["clients"][0]["presentIn"][0]["userName"] == "Sam at camera 3" {
            listed = clients;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let client = &listed["clients"][0];
    assert_eq!(client["role"], "viewer", "{listed}");
    assert_eq!(
        client["credential"],
        format!("token:{}", made["id"].as_str().unwrap())
    );
    assert_eq!(client["address"], "127.0.0.1");
    assert_eq!(client["presentIn"][0]["productionId"], production.as_str());
    assert!(!listed.to_string().contains(&token), "never the secret");
    drop(socket);
    app.stop().await;
}
