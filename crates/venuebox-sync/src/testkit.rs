//! Test parts shared by the sync and API test suites (feature `testkit`): a fresh PostgreSQL
//! database per test, dropped after, and a TCP proxy in front of PostgreSQL that a test can
//! break on command. Never compiled into the box.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The server tests create their databases on; `scripts/test.sh` exports it.
pub fn admin_url() -> String {
    std::env::var("VENUEBOX_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_db(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("URL with a database");
    format!("{base}/{db}")
}

async fn admin_client() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .expect("the test PostgreSQL server (run scripts/test.sh, or set VENUEBOX_TEST_PG)");
    tokio::spawn(connection);
    client
}

/// A database of its own for one test; dropped (connections and all) when this is.
pub struct TestHub {
    pub name: String,
    pub url: String,
}

impl TestHub {
    pub async fn new() -> TestHub {
        let name = format!("venuebox_test_{}", uuid::Uuid::new_v4().simple());
        admin_client()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let url = with_db(&admin_url(), &name);
        TestHub { name, url }
    }

    pub fn url_via(&self, proxy: &Proxy) -> String {
        self.url
            .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port))
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
    }

    /// Drops the database and makes it again: the hub "restored from scratch".
    pub async fn recreate(&self) {
        let admin = admin_client().await;
        admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {}", self.name))
            .await
            .unwrap();
    }

    /// Live rows of a kind on the hub: uuid -> data (with `_deleted`).
    pub async fn rows(&self, kind: &str) -> BTreeMap<String, Value> {
        self.client()
            .await
            .query(
                "SELECT uuid, data FROM hub_entities WHERE kind = $1 AND deleted_hlc IS NULL",
                &[&kind],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| {
                let mut data: Value = row.get(1);
                // Carried for list order, not stored as data on the nodes.
                if let Some(map) = data.as_object_mut() {
                    map.remove("_created_at");
                }
                (row.get(0), data)
            })
            .collect()
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; a short-lived runtime on its own thread does the SQL.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                admin_client()
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .unwrap();
            });
        })
        .join();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward both ways.
    Up,
    /// Refuse new connections and cut the open ones: the hub is unreachable.
    Down,
    /// Forward until the client commits a transaction that wrote the hub's change log, then
    /// swallow the server's answer and cut the connection: the hub committed, the node never
    /// hears it.
    CutAfterCommit,
}

/// A TCP proxy in front of PostgreSQL that a test can break on command.
pub struct Proxy {
    pub port: u16,
    state: Arc<Mutex<ProxyState>>,
}

struct ProxyState {
    mode: ProxyMode,
    connections: Vec<tokio::task::AbortHandle>,
    cuts: usize,
}

impl Proxy {
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ProxyState {
            mode: ProxyMode::Up,
            connections: Vec::new(),
            cuts: 0,
        }));
        let accept_state = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mode = accept_state.lock().unwrap().mode;
                if mode == ProxyMode::Down {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect("127.0.0.1:5432").await else {
                    continue;
                };
                let task = tokio::spawn(relay(client, server, accept_state.clone()));
                accept_state
                    .lock()
                    .unwrap()
                    .connections
                    .push(task.abort_handle());
            }
        });
        Proxy { port, state }
    }

    pub fn set(&self, mode: ProxyMode) {
        self.handle().set(mode);
    }

    /// A handle another task can use to break or mend the proxy.
    pub fn handle(&self) -> ProxyHandle {
        ProxyHandle {
            state: self.state.clone(),
        }
    }

    /// How many answers to a COMMIT were swallowed.
    pub fn cuts(&self) -> usize {
        self.state.lock().unwrap().cuts
    }
}

#[derive(Clone)]
pub struct ProxyHandle {
    state: Arc<Mutex<ProxyState>>,
}

impl ProxyHandle {
    pub fn set(&self, mode: ProxyMode) {
        let mut state = self.state.lock().unwrap();
        state.mode = mode;
        if mode == ProxyMode::Down {
            for connection in state.connections.drain(..) {
                connection.abort();
            }
        }
    }
}

async fn relay(mut client: TcpStream, mut server: TcpStream, state: Arc<Mutex<ProxyState>>) {
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let mut wrote_log = false;
    let mut commit_sent = false;
    let mut up = [0u8; 16 * 1024];
    let mut down = [0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = client_read.read(&mut up) => {
                let Ok(n) = read else { return };
                if n == 0 { return; }
                let chunk = &up[..n];
                if state.lock().unwrap().mode == ProxyMode::CutAfterCommit {
                    wrote_log |= chunk.windows(23).any(|w| w == b"INSERT INTO hub_changes");
                    commit_sent |= wrote_log && chunk.windows(6).any(|w| w == b"COMMIT");
                }
                if server_write.write_all(chunk).await.is_err() { return; }
            }
            read = server_read.read(&mut down) => {
                let Ok(n) = read else { return };
                if n == 0 { return; }
                if commit_sent {
                    // The server has answered the COMMIT: it is done. Swallow the answer.
                    let mut state = state.lock().unwrap();
                    state.cuts += 1;
                    state.mode = ProxyMode::Up;
                    return;
                }
                if client_write.write_all(&down[..n]).await.is_err() { return; }
            }
        }
    }
}
