//! A real server on an ephemeral loopback port with its own SQLite file in a temporary
//! folder, and a small JSON client for it.
use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use venuebox_api::{Application, Config};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    handle: venuebox_api::StopHandle,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    // Keeps the temporary folder alive for the life of the test (and across restarts).
    _dir: Option<tempfile::TempDir>,
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temporary folder");
    let data_dir = dir.path().to_owned();
    spawn_with(Config::for_tests(&data_dir), Some(dir)).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut config = Config::for_tests(dir.path());
    configure(&mut config);
    spawn_with(config, Some(dir)).await
}

async fn spawn_with(config: Config, dir: Option<tempfile::TempDir>) -> TestApp {
    let data_dir = config.storage.data_dir.clone();
    let app = Application::build(config).await.expect("server builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let served = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        data_dir,
        handle,
        served,
        _dir: dir,
    }
}

impl TestApp {
    /// Stops the server gracefully (the store commits and closes), then starts a new one on
    /// the same data folder.
    pub async fn restart(mut self) -> TestApp {
        let dir = self._dir.take();
        let data_dir = self.data_dir.clone();
        self.stop().await;
        spawn_with(Config::for_tests(&data_dir), dir).await
    }

    /// [`TestApp::restart`] with the configuration changed as `configure` says.
    pub async fn restart_with(mut self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let dir = self._dir.take();
        let data_dir = self.data_dir.clone();
        self.stop().await;
        let mut config = Config::for_tests(&data_dir);
        configure(&mut config);
        spawn_with(config, dir).await
    }

    pub async fn stop(self) {
        self.handle.stop().await;
        self.served
            .await
            .expect("server task joins")
            .expect("server ran cleanly");
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request is answered");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.expect("body reads");
        assert!(
            content_type.starts_with("application/json"),
            "{path}: {status} answered {content_type:?}: {text}"
        );
        let value = serde_json::from_str(&text).expect("body is JSON");
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.request(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, Some(&body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::PUT, path, Some(&body)).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.request(
            Method::DELETE,
            path,
            Some(&json!({"userId": "u-test", "userName": "Test"})),
        )
        .await
    }

    /// Sends raw bytes; for malformed bodies.
    pub async fn send_raw(&self, method: Method, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.address))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request is answered");
        let status = response.status();
        let value = response.json().await.expect("error body is JSON");
        (status, value)
    }

    /// Creates a production the way the crew app does and returns its id.
    pub async fn create_production(&self, name: &str) -> String {
        let id = uuid_like(name);
        let (status, body) = self
            .post(
                "/api/productions",
                json!({"id": id, "name": name, "client": "ACME", "venue": "Hall", "room": "A",
                       "loadIn": "2026-03-15", "loadOut": "2026-03-18", "status": "PLANNING",
                       "userId": "u-test", "userName": "Test"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        id
    }

    /// [`TestApp::create_production`] signed in with `cookie`.
    pub async fn create_production_as(&self, cookie: &str, name: &str) -> String {
        let id = uuid_like(name);
        let response = self
            .client
            .post(format!("{}/api/productions", self.address))
            .header(reqwest::header::COOKIE, cookie)
            .json(&json!({"id": id, "name": name, "client": "ACME"}))
            .send()
            .await
            .expect("request is answered");
        assert_eq!(response.status(), StatusCode::CREATED);
        id
    }
}

fn uuid_like(seed: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let slug: String = seed
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    format!("{slug}-{n:04}-{}", std::process::id())
}

impl TestApp {
    /// `get` with an owned path, for building many requests at once.
    pub async fn get_owned(&self, path: String) -> (StatusCode, Value) {
        self.get(&path).await
    }
}

/// The crew app's sample production (`tests/fixtures/sample-production.json`).
pub fn sample_production() -> Value {
    serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/sample-production.json"
    )))
    .expect("the sample production is JSON")
}

/// The sample's families: the route family and the sample's key for its rows.
pub const SAMPLE_FAMILIES: [(&str, &str); 3] = [
    ("sources", "sources"),
    ("sends", "sends"),
    ("ip-addresses", "ipAddresses"),
];

impl TestApp {
    /// Loads the sample production through the API, the way the crew app would; returns its id.
    pub async fn load_sample_production(&self) -> String {
        let sample = sample_production();
        let mut production = sample["production"].clone();
        production["userId"] = json!("u1");
        let (status, created) = self.post("/api/productions", production).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        for (family, key) in SAMPLE_FAMILIES {
            for row in sample[key].as_array().unwrap() {
                let mut row = row.clone();
                row["productionId"] = json!(id);
                let (status, body) = self.post(&format!("/api/{family}"), row).await;
                assert_eq!(status, StatusCode::CREATED, "{family}: {body}");
            }
        }
        id
    }
}
