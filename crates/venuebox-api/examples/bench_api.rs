//! Write and read throughput of the local API, measured end to end over HTTP.
//!
//! Starts the real server in-process (temporary data folder, loopback, mDNS off), then for
//! each concurrency level keeps that many clients creating checklist items for a fixed time,
//! and reports acknowledged writes per second, latency percentiles and how many writes each
//! fsync'd commit carried (group commit). Then measures reads of a 100-source list.
//! Client and server share this machine's cores, so the figures are a floor.
//!
//! Run: `cargo run --release -p venuebox-api --example bench_api -- [seconds] [open|token]`
//! (or `scripts/bench.sh`). `token` runs in passphrase mode with every request carrying an
//! editor bearer token, to show what checking credentials costs.
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;
use venuebox_api::{Application, Config};

/// (syncs, bytes written to the WAL) so far, when the benchmark runs under the slow-fsync shim
/// of `scripts/bench-writes.sh` (`tests/bench/slow_fsync.c`), which keeps them in this file.
fn wal_counters() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(std::env::var_os("SLOW_FSYNC_STATS")?).ok()?;
    let mut numbers = text.split_whitespace().map(|n| n.parse().ok());
    Some((numbers.next()??, numbers.next()??))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Signs in as admin and creates an editor token.
async fn editor_token(base: &str) -> String {
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"passphrase": "bench admin passphrase"}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let created: serde_json::Value = client
        .post(format!("{base}/api/auth/tokens"))
        .header("cookie", cookie)
        .json(&json!({"role": "editor", "name": "bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["token"].as_str().unwrap().to_owned()
}

async fn create_production(client: &reqwest::Client, base: &str, name: &str) -> String {
    let created: serde_json::Value = client
        .post(format!("{base}/api/productions"))
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"].as_str().unwrap().to_owned()
}

#[actix_web::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let with_token = std::env::args().nth(2).as_deref() == Some("token");
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut config = Config::for_tests(dir.path());
    config.server.workers = 2;
    if with_token {
        config.auth.mode = venuebox_api::config::AuthMode::Passphrase;
        config.auth.admin_passphrase =
            Some(venuebox_api::config::Secret::new("bench admin passphrase"));
    }
    let app = Application::build(config).await.expect("server builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let store = app.store().clone();
    let handle = app.handle();
    let served = tokio::spawn(app.run_until_stopped());
    let mut headers = reqwest::header::HeaderMap::new();
    if with_token {
        let token = editor_token(&base).await;
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
    }
    println!(
        "auth: {}",
        if with_token {
            "passphrase mode, editor bearer token on every request"
        } else {
            "open"
        }
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .default_headers(headers)
        .build()
        .unwrap();
    let production = create_production(&client, &base, "Bench").await;

    println!("writes: POST /api/checklist-items, {seconds} s per level, every answer after fsync");
    println!(
        "{:>11} {:>9} {:>10} {:>9} {:>9} {:>14} {:>16} {:>13} {:>11}",
        "concurrency",
        "writes",
        "writes/s",
        "p50 ms",
        "p99 ms",
        "writes/commit",
        "WAL bytes/write",
        "syncs/commit",
        "writer busy"
    );
    for concurrency in [1usize, 10, 50] {
        let commits_before = store.writer_stats().commits.load(Ordering::Relaxed);
        let writes_before = store.writer_stats().writes.load(Ordering::Relaxed);
        let busy_before = store
            .writer_stats()
            .commit_micros_total
            .load(Ordering::Relaxed);
        let wal_before = wal_counters();
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|worker| {
                let client = client.clone();
                let url = format!("{base}/api/checklist-items");
                let production = production.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut n = 0;
                    while Instant::now() < deadline {
                        let sent = Instant::now();
                        let response = client
                            .post(&url)
                            .json(&json!({"productionId": production, "title": format!("{worker}-{n}")}))
                            .send()
                            .await
                            .expect("answered");
                        assert_eq!(response.status(), 201);
                        response.bytes().await.unwrap();
                        latencies.push(sent.elapsed());
                        n += 1;
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort();
        let commits = store.writer_stats().commits.load(Ordering::Relaxed) - commits_before;
        let writes = store.writer_stats().writes.load(Ordering::Relaxed) - writes_before;
        // The share of the window the writer thread spent running batches and committing.
        let busy = (store
            .writer_stats()
            .commit_micros_total
            .load(Ordering::Relaxed)
            - busy_before) as f64
            / 1e6
            / elapsed;
        // Every commit of the window is one of these writes (nothing else writes meanwhile).
        let (wal_per_write, syncs_per_commit) = match (wal_before, wal_counters()) {
            (Some((syncs_before, before)), Some((syncs, after))) => (
                format!("{:.0}", (after - before) as f64 / writes.max(1) as f64),
                format!(
                    "{:.2}",
                    (syncs - syncs_before) as f64 / commits.max(1) as f64
                ),
            ),
            _ => ("-".into(), "-".into()),
        };
        println!(
            "{:>11} {:>9} {:>10.0} {:>9.2} {:>9.2} {:>14.1} {:>16} {:>13} {:>10.0}%",
            concurrency,
            latencies.len(),
            latencies.len() as f64 / elapsed,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            writes as f64 / commits.max(1) as f64,
            wal_per_write,
            syncs_per_commit,
            busy * 100.0
        );
    }

    let show = create_production(&client, &base, "Read bench").await;
    for n in 0..100 {
        client
            .post(format!("{base}/api/sources"))
            .json(
                &json!({"productionId": show, "type": "LAPTOP", "name": format!("SRC {n}"),
                          "outputs": [{"connector": "HDMI"}, {"connector": "SDI"}]}),
            )
            .send()
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            let url = format!("{base}/api/sources/production/{show}");
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let body = client
                        .get(&url)
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap();
                    assert!(body.len() > 1000);
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies.sort();
    println!(
        "reads: GET 100 sources (with outputs), 10 clients: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        latencies.len() as f64 / started.elapsed().as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    handle.stop().await;
    served.await.unwrap().unwrap();
}
