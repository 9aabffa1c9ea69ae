//! A production out of a running box and into one: `export` (JSON or `.xlsx`), `import`.
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

use super::client::{admin_call, admin_request};
use super::runtime;

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
