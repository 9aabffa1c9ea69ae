//! Credential commands: `passphrase reset` (local, on the database) and `token ...` (over the
//! running box's HTTP API, signed in as admin).
use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use venuebox_api::auth::{Role, generate_passphrase, hash_passphrase};
use venuebox_store::{Store, StoreOptions, access};

use crate::cli::TokenAction;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn reset_passphrase(data_dir: &Path, role: &str, from_stdin: bool) -> anyhow::Result<()> {
    let role = Role::parse(role).context("--role must be admin, editor or viewer")?;
    let (passphrase, generated) = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (generate_passphrase(), true)
    };
    if passphrase.chars().count() < 8 {
        bail!("a passphrase needs at least 8 characters");
    }
    let hash = hash_passphrase(&passphrase);
    let store = Store::open(data_dir, StoreOptions { readers: 1 })
        .with_context(|| format!("opening the database in {}", data_dir.display()))?;
    runtime()?.block_on(store.write(move |tx| {
        access::set_credential(tx.conn(), role.as_str(), &hash)?;
        access::delete_sessions_of(tx.conn(), role.as_str())
    }))?;
    store.close();
    if generated {
        println!("new {} passphrase: {passphrase}", role.as_str());
    } else {
        println!("{} passphrase changed", role.as_str());
    }
    println!("every {} browser session was signed out", role.as_str());
    Ok(())
}

/// Signs in as admin and returns the session cookie (none when the box runs open).
async fn sign_in(client: &reqwest::Client, url: &str) -> anyhow::Result<Option<String>> {
    let passphrase = match std::env::var("VENUEBOX_ADMIN_PASSPHRASE") {
        Ok(p) if !p.is_empty() => p,
        _ if std::io::stdin().is_terminal() => rpassword::prompt_password("admin passphrase: ")?,
        _ => return Ok(None),
    };
    let response = client
        .post(format!("{url}/api/auth/login"))
        .json(&json!({"passphrase": passphrase}))
        .send()
        .await
        .with_context(|| format!("cannot reach the box at {url}"))?;
    if !response.status().is_success() {
        let body: Value = response.json().await.unwrap_or_default();
        bail!(
            "sign-in refused: {}",
            body["error"].as_str().unwrap_or("unknown error")
        );
    }
    Ok(response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned))
}

pub fn tokens(url: &str, action: TokenAction) -> anyhow::Result<()> {
    let (method, path, body) = match &action {
        TokenAction::Create { role, name } => (
            reqwest::Method::POST,
            "/api/auth/tokens".to_owned(),
            Some(json!({"role": role, "name": name})),
        ),
        TokenAction::List => (reqwest::Method::GET, "/api/auth/tokens".to_owned(), None),
        TokenAction::Revoke { id } => (
            reqwest::Method::DELETE,
            format!("/api/auth/tokens/{id}"),
            None,
        ),
    };
    let url = url.to_owned();
    runtime()?.block_on(async move {
        let body = admin_call(&url, method, &path, body).await?;
        match action {
            TokenAction::Create { .. } => {
                println!(
                    "token (shown once): {}",
                    body["token"].as_str().unwrap_or_default()
                );
                println!(
                    "id {} · {} · {}",
                    body["id"].as_str().unwrap_or_default(),
                    body["role"].as_str().unwrap_or_default(),
                    body["name"].as_str().unwrap_or_default()
                );
            }
            TokenAction::List => {
                println!(
                    "{:<14} {:<8} {:<26} {:<26} {:<26} NAME",
                    "ID", "ROLE", "CREATED", "LAST USED", "REVOKED"
                );
                for token in body.as_array().into_iter().flatten() {
                    let text = |k: &str| token[k].as_str().unwrap_or("-").to_owned();
                    println!(
                        "{:<14} {:<8} {:<26} {:<26} {:<26} {}",
                        text("id"),
                        text("role"),
                        text("createdAt"),
                        text("lastUsedAt"),
                        text("revokedAt"),
                        text("name")
                    );
                }
            }
            TokenAction::Revoke { id } => println!("token {id} revoked"),
        }
        Ok(())
    })
}

/// Sends one request to the running box as admin; returns the JSON answer or its error.
async fn admin_call(
    url: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let response = admin_request(url, method, path, body).await?;
    Ok(response.json().await.unwrap_or_default())
}

/// Sends one request to the running box as admin; a non-2xx answer becomes its error message.
async fn admin_request(
    url: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<reqwest::Response> {
    let url = url.trim_end_matches('/');
    let client = reqwest::Client::new();
    let cookie = sign_in(&client, url).await?;
    let mut request = client.request(method, format!("{url}{path}"));
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the box at {url}"))?;
    let status = response.status();
    if !status.is_success() {
        let answer: Value = response.json().await.unwrap_or_default();
        bail!(
            "{status}: {}",
            answer["error"].as_str().unwrap_or("request failed")
        );
    }
    Ok(response)
}

/// The export format: named, else taken from the file's extension (`.xlsx`), else JSON.
pub fn export_format(format: Option<&str>, out: Option<&Path>) -> &'static str {
    match format {
        Some("xlsx") => "xlsx",
        Some(_) => "json",
        None if out.and_then(Path::extension).is_some_and(|e| e == "xlsx") => "xlsx",
        None => "json",
    }
}

pub fn export(
    url: &str,
    production: &str,
    out: Option<&Path>,
    format: Option<&str>,
) -> anyhow::Result<()> {
    if export_format(format, out) == "xlsx" {
        let Some(file) = out else {
            bail!("an .xlsx workbook needs --out FILE");
        };
        let path = format!("/api/productions/{production}/export?format=xlsx");
        let bytes = runtime()?.block_on(async {
            let response = admin_request(url, reqwest::Method::GET, &path, None).await?;
            anyhow::Ok(response.bytes().await?)
        })?;
        std::fs::write(file, &bytes).with_context(|| format!("writing {}", file.display()))?;
        eprintln!(
            "exported {production}: a workbook of {} bytes to {}",
            bytes.len(),
            file.display()
        );
        return Ok(());
    }
    let path = format!("/api/productions/{production}/export");
    let document = runtime()?.block_on(admin_call(url, reqwest::Method::GET, &path, None))?;
    let text = serde_json::to_string_pretty(&document)?;
    match out {
        Some(file) => {
            std::fs::write(file, text).with_context(|| format!("writing {}", file.display()))?;
            let rows: usize = document["kinds"]
                .as_object()
                .map(|k| k.values().filter_map(Value::as_array).map(Vec::len).sum())
                .unwrap_or(0);
            eprintln!("exported {production}: {rows} rows to {}", file.display());
        }
        None => println!("{text}"),
    }
    Ok(())
}

pub fn import(url: &str, file: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let document: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let production = runtime()?.block_on(admin_call(
        url,
        reqwest::Method::POST,
        "/api/productions/import",
        Some(document),
    ))?;
    println!(
        "imported {} ({})",
        production["name"].as_str().unwrap_or_default(),
        production["id"].as_str().unwrap_or_default()
    );
    Ok(())
}

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
    loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let status = runtime.block_on(admin_call(
            url,
            reqwest::Method::GET,
            "/api/sync/status",
            None,
        ))?;
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
