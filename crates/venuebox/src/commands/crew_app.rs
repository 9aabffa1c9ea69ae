//! `venuebox ui install FILE|DIR`, `ui rollback`, `ui status`: the crew's web app on a running
//! box, through the same admin API as the console's upload (`/api/admin/app`). A folder is
//! packed here as a `.tar.gz` (symlinks refused, as the box refuses them); the box checks and
//! installs it, serves it at once, and keeps the previous one for a rollback.
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use super::client::{admin_call, admin_send};
use super::runtime;
use crate::cli::UiAction;

pub fn crew_app(url: &str, action: UiAction) -> anyhow::Result<()> {
    let answer = match action {
        UiAction::Install { path } => install(url, &path)?,
        UiAction::Rollback => {
            let answer = runtime()?.block_on(admin_call(
                url,
                reqwest::Method::POST,
                "/api/admin/app/rollback",
                Some(serde_json::json!({})),
            ))?;
            failed(&answer)?;
            answer
        }
        UiAction::Status => runtime()?.block_on(admin_call(
            url,
            reqwest::Method::GET,
            "/api/admin/app",
            None,
        ))?,
    };
    let app = if answer.get("app").is_some() {
        &answer["app"]
    } else {
        &answer
    };
    println!("{}", describe(app));
    Ok(())
}

fn install(url: &str, path: &Path) -> anyhow::Result<Value> {
    let (body, kind) = if path.is_dir() {
        let packed = venuebox_api::app_install::pack_folder(path)
            .with_context(|| format!("packing {}", path.display()))?;
        (packed, "application/gzip")
    } else {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let zip = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        (
            bytes,
            if zip {
                "application/zip"
            } else {
                "application/gzip"
            },
        )
    };
    let answer: Value = runtime()?.block_on(async {
        let response = admin_send(url, reqwest::Method::POST, "/api/admin/app", |request| {
            request
                .header(reqwest::header::CONTENT_TYPE, kind)
                .body(body)
        })
        .await?;
        anyhow::Ok(response.json().await.unwrap_or_default())
    })?;
    failed(&answer)?;
    let installed = &answer["installed"];
    println!(
        "installed {} ({} files, {} bytes); served now at {url}/",
        installed["release"].as_str().unwrap_or("?"),
        installed["files"],
        installed["bytes"]
    );
    Ok(answer)
}

/// The box's error answer as this command's error.
fn failed(answer: &Value) -> anyhow::Result<()> {
    match answer["error"].as_str() {
        Some(error) => anyhow::bail!("{error}"),
        None => Ok(()),
    }
}

fn describe(app: &Value) -> String {
    let release = |r: &Value| match r["release"].as_str() {
        Some(name) => format!("{name} ({} files, {} bytes)", r["files"], r["bytes"]),
        None => "none".to_owned(),
    };
    format!(
        "serving: {}\ninstalled: {}\nkept for rollback: {}",
        app["serving"].as_str().unwrap_or("?"),
        release(&app["installed"]),
        release(&app["previous"])
    )
}
