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

/// `GET /health` of the running box (public: no sign-in), within five seconds; an error unless
/// it answers 200.
pub fn health(url: Option<&str>) -> anyhow::Result<()> {
    let base = match url {
        Some(url) => url.to_owned(),
        None => local_url(std::env::var("VENUEBOX_LISTEN").ok().as_deref()),
    };
    let url = format!("{}/health", base.trim_end_matches('/'));
    let answer = super::runtime()?.block_on(async {
        let response = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()?
            .get(&url)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        anyhow::Ok((status, body))
    })?;
    let (status, body) = answer;
    if !status.is_success() {
        bail!("{url} answered {status}: {body}");
    }
    println!("{body}");
    Ok(())
}

/// The URL of the box this environment configures: its listen address, on loopback when it
/// listens on every address (a container's `0.0.0.0:3010`).
fn local_url(listen: Option<&str>) -> String {
    match listen.and_then(|l| l.parse::<std::net::SocketAddr>().ok()) {
        Some(addr) => {
            let ip = match addr.ip() {
                ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
                ip if ip.is_unspecified() => "[::1]".to_owned(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            format!("http://{ip}:{}", addr.port())
        }
        None => "http://127.0.0.1:3010".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::local_url;

    #[test]
    fn the_health_check_finds_the_box_its_environment_configures() {
        assert_eq!(local_url(None), "http://127.0.0.1:3010");
        assert_eq!(local_url(Some("0.0.0.0:3010")), "http://127.0.0.1:3010");
        assert_eq!(local_url(Some("127.0.0.1:4123")), "http://127.0.0.1:4123");
        assert_eq!(local_url(Some("[::]:3010")), "http://[::1]:3010");
        assert_eq!(local_url(Some("not an address")), "http://127.0.0.1:3010");
    }
}
