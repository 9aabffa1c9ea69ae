//! The `venuebox` binary as an operator runs it: a real process on a loopback port.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_venuebox");

fn venuebox(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("VENUEBOX_LISTEN")
        .env_remove("VENUEBOX_DATA_DIR")
        // As on a developer's machine: errors must still be one line, with no stack trace.
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("venuebox runs")
}

/// A running `venuebox serve`, the port it reported, and its log so far.
struct Served {
    child: Child,
    base: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Served {
    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

fn serve(data_dir: &Path) -> Served {
    serve_with(data_dir, &["--auth-mode", "open"], &[])
}

fn serve_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
    serve_wrapped(&[], data_dir, args, env)
}

/// `venuebox serve` run by `wrapper` (e.g. `faketime -f -1d`), when given.
fn serve_wrapped(wrapper: &[&str], data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
    let mut command = match wrapper.split_first() {
        Some((program, wrapper_args)) => {
            let mut command = Command::new(program);
            command.args(wrapper_args).arg(BIN);
            command
        }
        None => Command::new(BIN),
    };
    // A process group of its own: a wrapper (faketime) may run the box as its child, and
    // stopping must reach the box, not only the wrapper (it once left boxes running).
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-mdns",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(args)
        .env("VENUEBOX_LOG", "info")
        .env_remove("VENUEBOX_ADMIN_PASSPHRASE")
        // Not a systemd service unless a test says so (see the first-start passphrase).
        .env_remove("INVOCATION_ID")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("venuebox serve starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        assert!(Instant::now() < deadline, "no start-up line");
        let line = lines.next().expect("server logs until ready").unwrap();
        log.lock().unwrap().push_str(&line);
        log.lock().unwrap().push('\n');
        if let Some(rest) = line.split("serving on ").nth(1) {
            let url = rest.split_whitespace().next().unwrap();
            break url.trim_end_matches('/').to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    Served { child, base, log }
}

/// Stops the box with SIGTERM (to its whole process group) and waits for it.
fn stop(mut served: Served) {
    signal_group(&served, "-TERM");
    served.child.wait().unwrap();
}

fn signal_group(served: &Served, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{}", served.child.id())])
        .status();
}

/// A test that fails before `stop` leaves no box behind.
impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal_group(self, "-KILL");
            let _ = self.child.wait();
        }
    }
}

#[test]
fn version_and_help() {
    let out = venuebox(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = venuebox(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["serve", "migrate", "config"] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn config_example_is_the_documented_file_and_show_applies_overrides() {
    let out = venuebox(&["config", "example"]);
    assert!(out.status.success());
    let shipped = include_str!("../../../../config/venuebox.toml");
    assert_eq!(String::from_utf8_lossy(&out.stdout), shipped);

    let out = Command::new(BIN)
        .args(["config", "show", "--data-dir", "/srv/venuebox"])
        .env("VENUEBOX_LISTEN", "127.0.0.1:4010")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("listen = \"127.0.0.1:4010\""), "{shown}");
    assert!(shown.contains("data_dir = \"/srv/venuebox\""), "{shown}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nlisen = \"typo\"\n").unwrap();
    let out = venuebox(&["config", "show", "--config", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lisen"), "the typo is named: {err}");
}

#[test]
fn migrate_creates_and_then_reports_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = venuebox(&["migrate", "--data-dir", data.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("V1__entities"));
    assert!(data.join("venuebox.db").exists());
    let out = venuebox(&["migrate", "--data-dir", data.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_kill_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve(dir.path());
    let client = reqwest::Client::new();
    let (status, production) = post(
        &client,
        &served.base,
        "/api/productions",
        json!({"name": "Power cut"}),
    )
    .await;
    assert_eq!(status, 201);
    let production = production["id"].as_str().unwrap().to_owned();

    // Writers keep writing while the process is killed; whatever was acknowledged must be
    // there after the restart.
    let writers: Vec<_> = (0..20)
        .map(|w| {
            let client = client.clone();
            let base = served.base.clone();
            let production = production.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for n in 0..1000 {
                    let body = json!({"productionId": production, "title": format!("w{w} n{n}")});
                    match client
                        .post(format!("{base}/api/checklist-items"))
                        .json(&body)
                        .send()
                        .await
                    {
                        Ok(response) if response.status() == 201 => {
                            let row: Value = response.json().await.unwrap();
                            acknowledged.push(row["uuid"].as_str().unwrap().to_owned());
                        }
                        _ => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    served.child.kill().expect("SIGKILL");
    served.child.wait().unwrap();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(
        acknowledged.len() > 20,
        "the load ran ({} writes)",
        acknowledged.len()
    );

    let mut served = serve(dir.path());
    let list: Value = client
        .get(format!(
            "{}/api/checklist-items/production/{production}",
            served.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: std::collections::HashSet<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["uuid"].as_str().unwrap())
        .collect();
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|u| !stored.contains(u.as_str()))
        .collect();
    assert!(lost.is_empty(), "{} acknowledged writes lost", lost.len());

    // SIGTERM: in-flight work finishes and the process exits 0.
    let status = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = served.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

async fn post(client: &reqwest::Client, base: &str, path: &str, body: Value) -> (u16, Value) {
    let response = client
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Runs one HTTP exchange from a synchronous test.
fn block_on<T>(request: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(request)
}

fn login_status(base: &str, passphrase: &str) -> u16 {
    block_on(async {
        reqwest::Client::new()
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"passphrase": passphrase}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

#[test]
fn the_first_start_prints_an_admin_passphrase_once() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with(dir.path(), &[], &[]);
    let log = served.log();
    let passphrase = log
        .lines()
        .skip_while(|l| !l.contains("admin passphrase (shown once"))
        .nth(2)
        .expect("the passphrase is printed")
        .trim()
        .to_owned();
    assert_eq!(passphrase.len(), 29, "{passphrase}");
    assert_eq!(login_status(&served.base, &passphrase), 200);
    assert_eq!(login_status(&served.base, "not it at all"), 401);
    stop(served);
    let served = serve_with(dir.path(), &[], &[]);
    assert!(
        !served.log().contains("shown once"),
        "printed only on the first start"
    );
    assert!(!served.log().contains(&passphrase));
    stop(served);
}

/// Under systemd the console is the journal, which keeps what it is given for months: the
/// generated passphrase goes to a file only the service's user can read, never to the log,
/// and the file goes once the admin has signed in. A too-short provisioned passphrase is
/// refused at start.
#[test]
fn under_systemd_the_first_passphrase_is_in_a_private_file_until_the_admin_signs_in() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with(dir.path(), &[], &[("INVOCATION_ID", "0123456789abcdef")]);
    let file = dir.path().join("admin-passphrase.txt");
    let passphrase = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert_eq!(passphrase.len(), 29, "{passphrase}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let log = served.log();
    assert!(!log.contains(&passphrase), "{log}");
    assert!(
        log.contains("admin-passphrase.txt"),
        "the log says where: {log}"
    );
    assert_eq!(login_status(&served.base, "not it at all"), 401);
    assert!(file.exists(), "a wrong guess does not remove it");
    assert_eq!(login_status(&served.base, &passphrase), 200);
    assert!(!file.exists(), "removed once the admin has signed in");
    stop(served);

    let other = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-mdns",
            "--data-dir",
        ])
        .arg(other.path())
        .env("VENUEBOX_ADMIN_PASSPHRASE", "short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 8 characters"), "{stderr}");
    assert!(!stderr.contains("short\n"), "{stderr}");
}

#[test]
fn provisioned_passphrase_tokens_over_http_and_a_local_reset() {
    let dir = tempfile::tempdir().unwrap();
    let admin = [("VENUEBOX_ADMIN_PASSPHRASE", "provisioned admin secret")];
    let served = serve_with(dir.path(), &[], &admin);
    assert!(
        !served.log().contains("provisioned admin secret"),
        "never logged"
    );
    let token = |args: &[&str]| {
        Command::new(BIN)
            .arg("token")
            .args(args)
            .args(["--url", &served.base])
            .env("VENUEBOX_ADMIN_PASSPHRASE", "provisioned admin secret")
            .output()
            .unwrap()
    };
    let out = token(&["create", "--role", "viewer", "--name", "Director iPad"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let secret = printed
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("vbx_"), "{printed}");
    let id = printed
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    let listed = String::from_utf8_lossy(&token(&["list"]).stdout).into_owned();
    assert!(
        listed.contains("Director iPad") && !listed.contains(&secret),
        "{listed}"
    );
    assert!(token(&["revoke", &id]).status.success());
    let out = Command::new(BIN)
        .args(["token", "list", "--url", &served.base])
        .env("VENUEBOX_ADMIN_PASSPHRASE", "wrong")
        .output()
        .unwrap();
    assert!(!out.status.success(), "a wrong admin passphrase is refused");
    stop(served);

    let mut reset = Command::new(BIN)
        .args([
            "passphrase",
            "reset",
            "--role",
            "admin",
            "--stdin",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    reset
        .stdin
        .take()
        .unwrap()
        .write_all(b"a brand new admin passphrase\n")
        .unwrap();
    assert!(reset.wait().unwrap().success());
    let served = serve_with(dir.path(), &[], &[]);
    assert_eq!(
        login_status(&served.base, "a brand new admin passphrase"),
        200
    );
    assert_eq!(login_status(&served.base, "provisioned admin secret"), 401);
    stop(served);
}

#[test]
fn open_mode_warns_at_every_start() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        served.log().contains("auth.mode = \"open\""),
        "{}",
        served.log()
    );
    stop(served);
}

fn get_json(base: &str, path: &str) -> Value {
    block_on(async {
        reqwest::Client::new()
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

fn post_json(base: &str, path: &str, body: Value) -> Value {
    block_on(async {
        reqwest::Client::new()
            .post(format!("{base}{path}"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

#[test]
fn backup_while_running_then_restore_after_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(&data);
    post_json(
        &served.base,
        "/api/productions",
        json!({"id": "show", "name": "Backed up"}),
    );
    let out = venuebox(&[
        "backup",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        dir.path().join("snaps").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = String::from_utf8_lossy(&out.stdout)
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    assert!(file.ends_with(".db"), "{file}");
    post_json(
        &served.base,
        "/api/productions",
        json!({"id": "later", "name": "After the backup"}),
    );

    let out = venuebox(&["restore", &file, "--data-dir", data.to_str().unwrap()]);
    assert!(!out.status.success(), "restore refuses while the box runs");
    let refusal = String::from_utf8_lossy(&out.stderr);
    assert!(
        refusal.contains("in use by a running venuebox"),
        "{refusal}"
    );
    // One clear line, even where RUST_BACKTRACE is set in the environment.
    assert_eq!(refusal.trim().lines().count(), 1, "{refusal}");
    stop(served);

    let out = venuebox(&["restore", &file, "--data-dir", data.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let served = serve(&data);
    let shows = get_json(&served.base, "/api/productions");
    let names: Vec<&str> = shows
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Backed up"]);
    let listed = get_json(&served.base, "/api/admin/backups");
    assert_eq!(
        listed["backups"].as_array().unwrap().len(),
        1,
        "the replaced database was saved: {listed}"
    );
    stop(served);
}

#[test]
fn a_production_moves_between_boxes_with_export_and_import() {
    let office = tempfile::tempdir().unwrap();
    let venue = tempfile::tempdir().unwrap();
    let from = serve(office.path());
    post_json(
        &from.base,
        "/api/productions",
        json!({"id": "tour", "name": "On tour"}),
    );
    post_json(
        &from.base,
        "/api/sends",
        json!({"productionId": "tour", "name": "SCREEN", "type": "VIDEO"}),
    );
    let file = office.path().join("tour.json");
    let out = Command::new(BIN)
        .args([
            "export",
            "--production",
            "tour",
            "--out",
            file.to_str().unwrap(),
            "--url",
            &from.base,
        ])
        .env_remove("VENUEBOX_ADMIN_PASSPHRASE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop(from);

    let admin = [("VENUEBOX_ADMIN_PASSPHRASE", "venue admin passphrase")];
    let to = serve_with(venue.path(), &[], &admin);
    let out = Command::new(BIN)
        .args(["import", file.to_str().unwrap(), "--url", &to.base])
        .env("VENUEBOX_ADMIN_PASSPHRASE", "venue admin passphrase")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported On tour (tour)"));
    stop(to);
    let check = serve(venue.path());
    let sends = get_json(&check.base, "/api/sends/production/tour");
    assert_eq!(sends.as_array().unwrap().len(), 1);
    stop(check);
}

/// The hub URL with a password in it: the real one where the server checks it, else a
/// made-up one (a server that trusts loopback ignores it).
fn hub_url_with_password(url: &str) -> (String, String) {
    let rest = url.strip_prefix("postgres://").expect("a postgres:// URL");
    let (userinfo, location) = rest.split_once('@').expect("user@host");
    match userinfo.split_once(':') {
        Some((_, password)) => (url.to_owned(), password.to_owned()),
        None => {
            let password = "hub-secret-4711".to_owned();
            (
                format!("postgres://{userinfo}:{password}@{location}"),
                password,
            )
        }
    }
}

fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("VENUEBOX_ADMIN_PASSPHRASE")
        .env("VENUEBOX_LOG", "debug");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("venuebox runs")
}

#[test]
fn sync_once_and_status_in_plain_words_and_the_hub_password_never_leaks() {
    let hub = block_on(venuebox_sync::testkit::TestHub::new());
    let (url, password) = hub_url_with_password(&hub.url);
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with(
        dir.path(),
        &["--auth-mode", "open"],
        &[("VENUEBOX_HUB_URL", &url), ("VENUEBOX_LOG", "debug")],
    );
    let production = post_json(
        &served.base,
        "/api/productions",
        json!({"name": "Synced show", "userId": "u"}),
    );
    assert!(production["id"].is_string(), "{production}");
    let synced = run_with_env(&["sync", "--once", "--url", &served.base], &[]);
    let said = String::from_utf8_lossy(&synced.stdout);
    assert!(
        synced.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&synced.stderr)
    );
    assert!(said.contains("sync done"), "{said}");
    let status = run_with_env(&["status", "--url", &served.base], &[]);
    let said = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.status.success(), "{said}");
    assert!(said.contains("online"), "{said}");
    assert!(said.contains("queue: empty"), "{said}");
    let status_json = get_json(&served.base, "/api/sync/status").to_string();
    let info = get_json(&served.base, "/api/server/info").to_string();
    let shown = run_with_env(&["config", "show"], &[("VENUEBOX_HUB_URL", &url)]);
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(shown.contains(":***@"), "{shown}");

    // A hub that is down: the round fails with a non-zero exit code, and says why.
    let unreachable = format!("postgres://venue:{password}@127.0.0.1:9/nowhere");
    let dir2 = tempfile::tempdir().unwrap();
    let offline = serve_with(
        dir2.path(),
        &["--auth-mode", "open"],
        &[
            ("VENUEBOX_HUB_URL", &unreachable),
            ("VENUEBOX_LOG", "debug"),
        ],
    );
    let failed = run_with_env(&["sync", "--once", "--url", &offline.base], &[]);
    assert!(!failed.status.success());
    let why = String::from_utf8_lossy(&failed.stderr).to_string();
    assert!(why.contains("unreachable"), "{why}");
    let offline_status = get_json(&offline.base, "/api/sync/status").to_string();
    let log = format!("{}\n{}", served.log(), offline.log());
    stop(served);
    stop(offline);
    assert!(log.contains("sync"), "the logs were captured: {log}");
    for (what, text) in [
        ("server logs", &log),
        ("status", &status_json),
        ("offline status", &offline_status),
        ("server info", &info),
        ("config show", &shown),
        ("sync error", &why),
    ] {
        assert!(
            !text.contains(&password),
            "the hub password leaked into the {what}: {text}"
        );
    }
}

#[test]
fn an_operator_lists_downloads_with_progress_locks_and_unlocks_a_show() {
    let hub = block_on(venuebox_sync::testkit::TestHub::new());
    // The office box plans the show and pushes it to the hub.
    let office_dir = tempfile::tempdir().unwrap();
    let office = serve_with(
        office_dir.path(),
        &["--auth-mode", "open"],
        &[("VENUEBOX_HUB_URL", &hub.url)],
    );
    let show = post_json(
        &office.base,
        "/api/productions",
        json!({"name": "Gala Night", "client": "ACME", "venue": "Opera", "userId": "u"}),
    );
    let id = show["id"].as_str().unwrap().to_owned();
    for n in 0..30 {
        post_json(
            &office.base,
            "/api/sources",
            json!({"productionId": id, "name": format!("Source {n}"), "type": "Laptop"}),
        );
    }
    assert!(
        run_with_env(&["sync", "--once", "--url", &office.base], &[])
            .status
            .success()
    );

    // Listing straight from the hub, no box needed.
    let listed = run_with_env(&["productions", "--hub", &hub.url], &[]);
    let listing = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(listed.status.success(), "{listing}");
    assert!(
        listing.contains("Gala Night") && listing.contains("Opera"),
        "{listing}"
    );
    assert!(
        listing.contains(" 30 ") || listing.contains("  30"),
        "{listing}"
    );

    // The venue box downloads it by name and locks it; plain progress lines off a terminal.
    let venue_dir = tempfile::tempdir().unwrap();
    let venue = serve_with(
        venue_dir.path(),
        &["--auth-mode", "open"],
        &[("VENUEBOX_HUB_URL", &hub.url)],
    );
    let downloaded = run_with_env(
        &[
            "download",
            "--production",
            "gala night",
            "--lock",
            "--url",
            &venue.base,
        ],
        &[],
    );
    let said = String::from_utf8_lossy(&downloaded.stdout).to_string();
    let progress = String::from_utf8_lossy(&downloaded.stderr).to_string();
    assert!(downloaded.status.success(), "{said} {progress}");
    assert!(said.contains("downloaded Gala Night"), "{said}");
    assert!(said.contains("verified against the hub"), "{said}");
    assert!(said.contains("locked to this box"), "{said}");
    assert!(progress.contains("download done"), "{progress}");
    let sources = get_json(&venue.base, &format!("/api/sources/production/{id}"));
    assert_eq!(sources.as_array().unwrap().len(), 30);
    let status = run_with_env(&["status", "--url", &venue.base], &[]);
    let said = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(
        said.contains("Gala Night") && said.contains("LOCKED"),
        "{said}"
    );
    let listing =
        String::from_utf8_lossy(&run_with_env(&["productions", "--url", &venue.base], &[]).stdout)
            .to_string();
    assert!(
        listing.contains("Venuebox") || listing.contains("venue"),
        "{listing}"
    );

    // A production that is not there is named as such.
    let missing = run_with_env(
        &["download", "--production", "Nope", "--url", &venue.base],
        &[],
    );
    assert!(!missing.status.success());
    let unlocked = run_with_env(&["unlock", "--production", &id, "--url", &venue.base], &[]);
    assert!(unlocked.status.success());
    assert!(String::from_utf8_lossy(&unlocked.stdout).contains("unlocked"));
    stop(office);
    stop(venue);
}

/// Boxes with clocks a day off, made so by libfaketime (Debian's `faketime`) around the real
/// binary, as a Pi without a battery clock or NTP would be. A box a day slow downloads a show
/// and edits it: the edit was made after seeing the value, so it wins, with no conflict. A box
/// a day fast cannot win by its clock: the hub stamps its edit at arrival, an office edit made
/// later without seeing it wins, and the fast box's value is in the conflict log.
#[test]
fn boxes_a_day_off_under_faketime_neither_lose_edits_nor_win_by_their_clocks() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hub = runtime.block_on(venuebox_sync::testkit::TestHub::new());
    // The office reaches the hub through a proxy, so the test can take it offline.
    let proxy = runtime.block_on(venuebox_sync::testkit::Proxy::start());
    let office_url = hub.url_via(&proxy);
    let office_dir = tempfile::tempdir().unwrap();
    let office = serve_with(
        office_dir.path(),
        &["--auth-mode", "open"],
        &[("VENUEBOX_HUB_URL", office_url.as_str())],
    );
    let show = post_json(
        &office.base,
        "/api/productions",
        json!({"name": "Clock show", "userId": "u"}),
    );
    let id = show["id"].as_str().unwrap().to_owned();
    let cam = post_json(
        &office.base,
        "/api/sources",
        json!({"productionId": id, "name": "Camera 1", "type": "Camera"}),
    );
    let cam = cam["uuid"].as_str().unwrap().to_owned();
    let sync = |base: &str| {
        let out = run_with_env(&["sync", "--once", "--url", base], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sync(&office.base);

    let start_faked = |offset: &str, dir: &Path| {
        serve_wrapped(
            &["faketime", "-f", offset],
            dir,
            &["--auth-mode", "open"],
            &[
                ("VENUEBOX_HUB_URL", hub.url.as_str()),
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ],
        )
    };
    let slow_dir = tempfile::tempdir().unwrap();
    let slow = start_faked("-1d", slow_dir.path());
    let downloaded = run_with_env(&["download", "--production", &id, "--url", &slow.base], &[]);
    assert!(
        downloaded.status.success(),
        "{}",
        String::from_utf8_lossy(&downloaded.stderr)
    );
    let skew = get_json(&slow.base, "/api/sync/status")["clockSkewMs"]
        .as_i64()
        .unwrap();
    assert!(
        skew < -86_000_000,
        "faketime runs the box a day slow: {skew}"
    );
    put_json(
        &slow.base,
        &format!("/api/sources/{cam}"),
        json!({"name": "Camera 1 (venue)"}),
    );
    sync(&slow.base);
    sync(&office.base);
    let on_office = get_json(&office.base, &format!("/api/sources/{cam}"));
    assert_eq!(on_office["name"], "Camera 1 (venue)");
    let conflicts = get_json(&slow.base, "/api/sync/conflicts?all=true");
    assert_eq!(
        conflicts["conflicts"].as_array().unwrap().len(),
        0,
        "{conflicts}"
    );

    let fast_dir = tempfile::tempdir().unwrap();
    let fast = start_faked("+1d", fast_dir.path());
    let downloaded = run_with_env(&["download", "--production", &id, "--url", &fast.base], &[]);
    assert!(downloaded.status.success());
    // The office goes offline; the fast box edits and pushes; the office, not having seen
    // that, edits the same field a moment later and comes back.
    proxy.set(venuebox_sync::testkit::ProxyMode::Down);
    put_json(
        &fast.base,
        &format!("/api/sources/{cam}"),
        json!({"note": "from the fast box"}),
    );
    sync(&fast.base);
    std::thread::sleep(Duration::from_millis(20));
    put_json(
        &office.base,
        &format!("/api/sources/{cam}"),
        json!({"note": "from the office, later"}),
    );
    proxy.set(venuebox_sync::testkit::ProxyMode::Up);
    sync(&office.base);
    sync(&fast.base);
    let on_fast = get_json(&fast.base, &format!("/api/sources/{cam}"));
    assert_eq!(on_fast["note"], "from the office, later");
    let conflicts = get_json(&fast.base, "/api/sync/conflicts");
    assert!(
        conflicts["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["loserValue"] == "from the fast box"
                && c["winnerValue"] == "from the office, later"),
        "{conflicts}"
    );
    let newest = runtime.block_on(hub.newest_clock());
    let newest_ms: i64 = newest[..13].parse().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        newest_ms < now_ms + 3_600_000,
        "no clock a day ahead reached the hub: {newest}"
    );
    stop(office);
    stop(slow);
    stop(fast);
}

fn put_json(base: &str, path: &str, body: Value) -> Value {
    let client = reqwest::Client::new();
    let url = format!("{base}{path}");
    block_on(async move {
        let response = client.put(url).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.json().await.unwrap()
    })
}

/// The systemd notify protocol on a real datagram socket, as systemd runs it: `READY=1` once
/// the port answers, `WATCHDOG=1` pings at half of `WATCHDOG_USEC` while the database is
/// alive, and `STOPPING=1` when SIGTERM arrives.
#[test]
fn tells_systemd_ready_pings_the_watchdog_and_says_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let data = dir.path().join("data");
    let served = serve_with(
        &data,
        &["--auth-mode", "open"],
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let receive = || {
        let mut buffer = [0u8; 4096];
        let n = socket.recv(&mut buffer).expect("a notification arrives");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    let ready = receive();
    assert!(ready.contains("READY=1"), "{ready}");
    assert!(
        ready.contains("STATUS=serving on http://127.0.0.1:"),
        "{ready}"
    );
    for _ in 0..3 {
        assert_eq!(receive(), "WATCHDOG=1\n");
    }
    assert!(served.log().contains("systemd watchdog on"));
    Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    let stopping = loop {
        let message = receive();
        if message != "WATCHDOG=1\n" {
            break message;
        }
    };
    assert!(stopping.contains("STOPPING=1"), "{stopping}");
    let mut served = served;
    assert!(served.child.wait().unwrap().success());
}

/// curl, a client we did not write, against the box's HTTPS.
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// HTTPS with the certificate the box makes on its first start: curl trusts it once given
/// the certificate file, the fingerprint the box reports is the certificate's (as openssl
/// computes it), the plain port redirects everything but the health probes, and a session
/// cookie set over HTTPS is `Secure`.
#[test]
fn https_with_the_boxs_own_certificate_and_plain_http_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("venuebox.toml");
    std::fs::write(&config, "[server]\nhttps_listen = \"127.0.0.1:0\"\n").unwrap();
    let data = dir.path().join("data");
    let admin = "https test admin passphrase";
    let serve = || {
        serve_with(
            &data,
            &[
                "--config",
                config.to_str().unwrap(),
                "--auth-mode",
                "passphrase",
            ],
            &[("VENUEBOX_ADMIN_PASSPHRASE", admin)],
        )
    };
    let served = serve();
    let log = served.log();
    let line = log
        .lines()
        .find(|l| l.contains("serving HTTPS"))
        .unwrap_or_else(|| panic!("{log}"));
    let field = |name: &str| {
        line.split(&format!("{name}="))
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let https_port = field("port");
    let logged_fingerprint = field("fingerprint");
    let cert = data.join("tls").join("cert.pem");
    let cert = cert.to_str().unwrap();
    let https = format!("https://localhost:{https_port}");

    // The fingerprint the box tells people is the certificate's.
    let openssl = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in", cert])
        .output()
        .unwrap();
    let openssl = String::from_utf8_lossy(&openssl.stdout);
    let computed = openssl.trim().rsplit('=').next().unwrap();
    assert_eq!(computed, logged_fingerprint);

    assert!(curl(&["--cacert", cert, &format!("{https}/health")]).contains("healthy"));
    // Untrusted, it is refused (what a browser shows as its warning).
    assert!(curl(&[&format!("{https}/health")]).contains("certificate"));

    // Signing in over HTTPS gives a Secure cookie; with it, the server info names the
    // certificate by the same fingerprint.
    let headers = curl(&[
        "--cacert",
        cert,
        "-i",
        "-H",
        "Content-Type: application/json",
        "-d",
        &format!("{{\"passphrase\":\"{admin}\"}}"),
        &format!("{https}/api/auth/login"),
    ]);
    let set_cookie = headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("{headers}"));
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
    let cookie = set_cookie
        .split(':')
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim();
    let info: Value = serde_json::from_str(&curl(&[
        "--cacert",
        cert,
        "-H",
        &format!("Cookie: {cookie}"),
        &format!("{https}/api/server/info"),
    ]))
    .unwrap();
    assert_eq!(info["tlsFingerprint"], json!(logged_fingerprint));
    assert_eq!(info["httpsPort"].to_string(), https_port);

    // The plain port sends everything there, a POST as a POST (308); health stays plain.
    let plain = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        "-X",
        "POST",
        &format!("{}/api/productions?x=1", served.base),
    ]);
    let port_of_plain = served.base.rsplit(':').next().unwrap();
    assert_eq!(
        plain,
        format!("308 https://127.0.0.1:{https_port}/api/productions?x=1"),
        "plain port {port_of_plain}"
    );
    assert!(curl(&[&format!("{}/health", served.base)]).contains("healthy"));
    stop(served);

    // A restart keeps the certificate: laptops that trusted it keep trusting it.
    let served = serve();
    assert!(served.log().contains(&logged_fingerprint));
    stop(served);
}

#[test]
fn ui_install_puts_a_built_folder_on_the_running_box_and_rolls_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let admin = [("VENUEBOX_ADMIN_PASSPHRASE", "provisioned admin secret")];
    let served = serve_with(dir.path(), &[], &admin);
    let ui = |args: &[&str]| {
        Command::new(BIN)
            .arg("ui")
            .args(args)
            .args(["--url", &served.base])
            .env("VENUEBOX_ADMIN_PASSPHRASE", "provisioned admin secret")
            .output()
            .unwrap()
    };
    let build = |marker: &str| {
        let app = tempfile::tempdir().unwrap();
        std::fs::write(app.path().join("index.html"), marker).unwrap();
        std::fs::create_dir(app.path().join("assets")).unwrap();
        std::fs::write(app.path().join("assets/app.js"), "1").unwrap();
        app
    };
    let cookie = block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/api/auth/login", served.base))
            .json(&json!({"passphrase": "provisioned admin secret"}))
            .send()
            .await
            .unwrap();
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    });
    let home = || {
        block_on(async {
            reqwest::Client::new()
                .get(format!("{}/", served.base))
                .header("accept", "text/html")
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    let first = build("first crew app");
    let out = ui(&["install", first.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("installed"));
    assert_eq!(home(), "first crew app", "served without a restart");
    let second = build("second crew app");
    assert!(
        ui(&["install", second.path().to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(home(), "second crew app");
    let status = String::from_utf8_lossy(&ui(&["status"]).stdout).into_owned();
    assert!(status.contains("serving: installed"), "{status}");
    assert!(ui(&["rollback"]).status.success());
    assert_eq!(home(), "first crew app");
    // A folder holding a symlink is refused before anything is sent.
    std::os::unix::fs::symlink("/etc/passwd", second.path().join("passwd")).unwrap();
    let out = ui(&["install", second.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("symlink"));
    // A file that is no archive is refused by the box, with its reason.
    let junk = dir.path().join("app.zip");
    std::fs::write(&junk, "not a zip").unwrap();
    let out = ui(&["install", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a .zip or .tar.gz"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(home(), "first crew app");
    stop(served);
}
