//! Talking to the running box: signing in as admin (`VENUEBOX_ADMIN_PASSPHRASE`, or a prompt
//! on a terminal) and calling its API, with the box's JSON errors turned into one line.
use std::io::IsTerminal;

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Signs in as admin and returns the session cookie (none when the box runs open).
pub(crate) async fn sign_in(client: &reqwest::Client, url: &str) -> anyhow::Result<Option<String>> {
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

/// Sends one request to the running box as admin; returns the JSON answer or its error.
pub(crate) async fn admin_call(
    url: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let response = admin_request(url, method, path, body).await?;
    Ok(response.json().await.unwrap_or_default())
}

/// Sends one request to the running box as admin; a non-2xx answer becomes its error message.
pub(crate) async fn admin_request(
    url: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<reqwest::Response> {
    let response = admin_send(url, method, path, |request| match body {
        Some(body) => request.json(&body),
        None => request,
    })
    .await?;
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

/// Sends one request to the running box as admin, the body set by `body`; the answer as it
/// came, whatever its status.
pub(crate) async fn admin_send(
    url: &str,
    method: reqwest::Method,
    path: &str,
    body: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> anyhow::Result<reqwest::Response> {
    let url = url.trim_end_matches('/');
    let client = reqwest::Client::new();
    let cookie = sign_in(&client, url).await?;
    let mut request = client.request(method, format!("{url}{path}"));
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    body(request)
        .send()
        .await
        .with_context(|| format!("cannot reach the box at {url}"))
}
