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
        .output()
        .expect("venuebox runs")
}

/// A running `venuebox serve` and the port it reported.
struct Served {
    child: Child,
    base: String,
}

fn serve(data_dir: &Path) -> Served {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-mdns",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("VENUEBOX_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("venuebox serve starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        assert!(Instant::now() < deadline, "no start-up line");
        let line = lines.next().expect("server logs until ready").unwrap();
        if let Some(rest) = line.split("serving on ").nth(1) {
            let url = rest.split_whitespace().next().unwrap();
            break url.trim_end_matches('/').to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served { child, base }
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
