//! Sync from the command line, through the running box: a round now, the state in plain
//! words, the hub's productions, the pre-show download, the lock.
use std::io::IsTerminal;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::client::admin_call;
use super::runtime;

pub fn sync_once(url: &str) -> anyhow::Result<()> {
    let report = runtime()?.block_on(admin_call(
        url,
        reqwest::Method::POST,
        "/api/sync/now",
        None,
    ))?;
    println!(
        "sync done: pushed {} change(s), pulled {}, {} new conflict(s); hub at sequence {}",
        report["pushed"], report["pulled"], report["conflicts"], report["hubSeq"]
    );
    Ok(())
}

pub fn status(url: &str, json: bool) -> anyhow::Result<()> {
    let status = runtime()?.block_on(admin_call(
        url,
        reqwest::Method::GET,
        "/api/sync/status",
        None,
    ))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    print!("{}", describe_status(&status));
    // How a laptop recognises this box's certificate.
    let info = runtime()?.block_on(admin_call(
        url,
        reqwest::Method::GET,
        "/api/server/info",
        None,
    ))?;
    match (info["httpsPort"].as_u64(), info["tlsFingerprint"].as_str()) {
        (Some(port), Some(fingerprint)) => {
            println!("https: port {port}, certificate SHA-256 {fingerprint}")
        }
        _ => println!("https: off (server.https_listen)"),
    }
    Ok(())
}

/// The sync status in plain words, for a person at a terminal.
fn describe_status(s: &Value) -> String {
    let text = |key: &str| s[key].as_str().unwrap_or("never").to_owned();
    let mut out = format!(
        "node {} ({})\n",
        s["nodeName"].as_str().unwrap_or_default(),
        s["nodeId"].as_str().unwrap_or_default()
    );
    if s["configured"] == Value::Bool(false) {
        out.push_str("hub: none configured; working offline, changes wait in the queue\n");
    } else if let Some(reason) = s["stopped"].as_str() {
        out.push_str(&format!("hub: {} — SYNC STOPPED: {reason}\n", text("hub")));
    } else if s["online"] == Value::Bool(true) {
        out.push_str(&format!(
            "hub: {} — online, at sequence {}\n",
            text("hub"),
            s["hubSeq"]
        ));
    } else {
        out.push_str(&format!(
            "hub: {} — unreachable ({}), retrying\n",
            text("hub"),
            s["lastError"].as_str().unwrap_or("not tried yet")
        ));
    }
    let queued = s["queueLength"].as_i64().unwrap_or(0);
    if queued == 0 {
        out.push_str("queue: empty, every change is on the hub\n");
    } else {
        out.push_str(&format!(
            "queue: {queued} change(s) waiting, the oldest from {}\n",
            text("oldestQueuedAt")
        ));
    }
    out.push_str(&format!(
        "last push: {}, last pull: {}\n",
        text("lastPushAt"),
        text("lastPullAt")
    ));
    let conflicts = s["conflictsPending"].as_i64().unwrap_or(0);
    out.push_str(&match conflicts {
        0 => "conflicts: none waiting\n".to_owned(),
        n => format!("conflicts: {n} waiting for a person (GET /api/sync/conflicts)\n"),
    });
    let holdings = s["holdings"].as_array().cloned().unwrap_or_default();
    if holdings.is_empty() {
        out.push_str("productions held: none\n");
    }
    for h in holdings {
        out.push_str(&format!(
            "production {} ({}): downloaded {}{}\n",
            h["name"].as_str().unwrap_or("unnamed"),
            h["productionId"].as_str().unwrap_or_default(),
            h["downloadedAt"].as_str().unwrap_or("never (created here)"),
            match h["lockedAt"].as_str() {
                Some(at) => format!(", LOCKED to this box since {at}"),
                None => String::new(),
            }
        ));
    }
    if let Some(skew) = s["clockSkewMs"].as_i64()
        && skew.abs() > 60_000
    {
        out.push_str(&format!(
            "clock: this box is {} s {} the hub; check its time (NTP)\n",
            skew.abs() / 1000,
            if skew > 0 { "ahead of" } else { "behind" }
        ));
    }
    out
}

pub fn adopt_hub(url: &str) -> anyhow::Result<()> {
    let answer = runtime()?.block_on(admin_call(
        url,
        reqwest::Method::POST,
        "/api/sync/adopt-hub",
        None,
    ))?;
    println!(
        "adopted the hub as it is now; {} row(s) of this box are queued for it",
        answer["queued"]
    );
    Ok(())
}

pub fn productions(hub: Option<&str>, url: &str, json: bool) -> anyhow::Result<()> {
    let list: Value = runtime()?.block_on(async {
        match hub {
            // Straight to the hub: no running box needed (planning in the office).
            Some(hub_url) => {
                let target = venuebox_sync::HubTarget::new(hub_url, None)?;
                let list = target
                    .connect()
                    .await
                    .with_context(|| format!("connecting to the hub at {}", target.describe()))?
                    .productions()
                    .await?;
                anyhow::Ok(serde_json::to_value(list)?)
            }
            None => Ok(admin_call(url, reqwest::Method::GET, "/api/sync/productions", None)
                .await?["productions"]
                .clone()),
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let rows = list.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        println!("no productions on the hub");
        return Ok(());
    }
    println!(
        "{:<38} {:<28} {:<16} {:<20} {:<10} {:>6}  LOCKED BY",
        "ID", "NAME", "CLIENT", "VENUE", "LOAD-IN", "ROWS"
    );
    for p in rows {
        let text = |key: &str| p[key].as_str().unwrap_or("").to_owned();
        let total: i64 = p["counts"]
            .as_object()
            .map(|c| c.values().filter_map(Value::as_i64).sum())
            .unwrap_or(0);
        let locked = match (p["lockedByName"].as_str(), p["lockedBy"].as_str()) {
            (Some(name), _) => name.to_owned(),
            (None, Some(id)) => id.to_owned(),
            _ => "-".to_owned(),
        };
        println!(
            "{:<38} {:<28} {:<16} {:<20} {:<10} {:>6}  {locked}",
            text("id"),
            text("name"),
            text("client"),
            text("venue"),
            text("loadIn").chars().take(10).collect::<String>(),
            total
        );
    }
    Ok(())
}

/// Starts the download on the box, then follows its progress: a progress bar on a terminal,
/// a plain line every few seconds otherwise (a log, a pipe).
pub fn download(url: &str, production: &str, lock: bool) -> anyhow::Result<()> {
    let runtime = runtime()?;
    let path = format!("/api/sync/production/{production}/download");
    runtime.block_on(admin_call(
        url,
        reqwest::Method::POST,
        &path,
        Some(json!({"lock": lock})),
    ))?;
    let on_terminal = std::io::stderr().is_terminal();
    let bar = on_terminal.then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg:12} [{bar:40}] {pos}/{len} rows  {per_sec}  eta {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar
    });
    let mut last_line = std::time::Instant::now();
    // Each answer waits for the next change of the box's sync state (`after`), so the summary
    // prints the moment the download is verified; while rows are staged, the bar needs no
    // more than 20 updates a second.
    let mut path = "/api/sync/status".to_owned();
    loop {
        let status = runtime.block_on(admin_call(url, reqwest::Method::GET, &path, None))?;
        path = format!(
            "/api/sync/status?after={}&waitMs=2000",
            status["version"].as_u64().unwrap_or(0)
        );
        let progress = &status["download"];
        let phase = progress["phase"].as_str().unwrap_or("starting");
        let staged = progress["staged"].as_u64().unwrap_or(0);
        let total = progress["total"].as_u64().unwrap_or(0);
        match &bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(staged);
                bar.set_message(phase.to_owned());
            }
            None if last_line.elapsed().as_secs() >= 2 || phase == "done" || phase == "failed" => {
                eprintln!(
                    "download {phase}: {staged}/{total} rows, {:.0} rows/s",
                    progress["rowsPerSecond"].as_f64().unwrap_or(0.0)
                );
                last_line = std::time::Instant::now();
            }
            None => {}
        }
        match phase {
            "done" => {
                if let Some(bar) = &bar {
                    bar.finish_and_clear();
                }
                let report = &progress["report"];
                println!(
                    "downloaded {} ({}): {} rows in {:.1} s ({:.0} rows/s), verified against the hub (checksum {})",
                    report["name"].as_str().unwrap_or_default(),
                    report["productionId"].as_str().unwrap_or_default(),
                    report["rows"],
                    report["seconds"].as_f64().unwrap_or(0.0),
                    report["rowsPerSecond"].as_f64().unwrap_or(0.0),
                    report["checksum"]
                        .as_str()
                        .unwrap_or_default()
                        .chars()
                        .take(12)
                        .collect::<String>()
                );
                if let Some(kinds) = report["byKind"].as_object() {
                    let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
                    println!("  {}", list.join(", "));
                }
                if report["keptLocalFields"].as_i64().unwrap_or(0) > 0 {
                    println!(
                        "  {} field(s) changed on this box and not yet synced were kept",
                        report["keptLocalFields"]
                    );
                }
                if let Some(backup) = report["backup"].as_str() {
                    println!("  the database before the download is saved as backups/{backup}");
                }
                if report["locked"] == Value::Bool(true) {
                    println!(
                        "  locked to this box: other nodes' changes to it are refused until `venuebox unlock`"
                    );
                }
                return Ok(());
            }
            "failed" => {
                if let Some(bar) = &bar {
                    bar.abandon();
                }
                bail!(
                    "download failed: {} (run the same command again to continue)",
                    progress["error"].as_str().unwrap_or("unknown error")
                );
            }
            "staging" => std::thread::sleep(std::time::Duration::from_millis(50)),
            _ => {}
        }
    }
}

pub fn set_lock(url: &str, production: &str, locked: bool) -> anyhow::Result<()> {
    let verb = if locked { "lock" } else { "unlock" };
    let path = format!("/api/sync/production/{production}/{verb}");
    let answer = runtime()?.block_on(admin_call(url, reqwest::Method::POST, &path, None))?;
    println!(
        "production {} {}",
        answer["productionId"].as_str().unwrap_or(production),
        if locked {
            "is locked to this box"
        } else {
            "is unlocked"
        }
    );
    Ok(())
}
