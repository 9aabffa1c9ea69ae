//! Test parts shared by the sync and API test suites (feature `testkit`): a fresh PostgreSQL
//! database per test, dropped after, and a TCP proxy in front of PostgreSQL that a test can
//! break on command. Never compiled into the box.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

    /// The hub as it is now, dumped with `pg_dump` (custom format) to a file.
    pub async fn dump(&self) -> std::path::PathBuf {
        let file = std::env::temp_dir().join(format!("{}.dump", self.name));
        let url = self.url.clone();
        let out = file.clone();
        let status = tokio::task::spawn_blocking(move || {
            std::process::Command::new("pg_dump")
                .args(["--format=custom", "--file"])
                .arg(&out)
                .arg(&url)
                .status()
        })
        .await
        .unwrap()
        .expect("pg_dump runs (Debian's postgresql-client)");
        assert!(status.success(), "pg_dump failed");
        file
    }

    /// Drops the hub and restores a dump into a new database of the same name with
    /// `pg_restore`: the hub as it was when the dump was taken, epoch and all.
    pub async fn restore(&self, dump: &std::path::Path) {
        self.recreate().await;
        let url = self.url.clone();
        let dump = dump.to_owned();
        let status = tokio::task::spawn_blocking(move || {
            std::process::Command::new("pg_restore")
                .args(["--no-owner", "--exit-on-error", "--dbname"])
                .arg(&url)
                .arg(&dump)
                .status()
        })
        .await
        .unwrap()
        .expect("pg_restore runs (Debian's postgresql-client)");
        assert!(status.success(), "pg_restore failed");
    }

    /// The newest field clock the hub holds (a clock admitted from a fast box would be ahead).
    pub async fn newest_clock(&self) -> String {
        self.client()
            .await
            .query_one(
                "SELECT max(value COLLATE \"C\") FROM hub_entities, jsonb_each_text(clocks)",
                &[],
            )
            .await
            .unwrap()
            .get(0)
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
    /// Forward until the hub has executed a push call (`venuebox_push`, which commits on its
    /// own), then swallow the hub's answer and cut the connection: the hub committed, the
    /// node never hears it.
    CutAfterCommit,
    /// A dead link that does not say so: connections stay open and new ones are accepted,
    /// but nothing is delivered either way.
    Blackhole,
}

/// A TCP proxy in front of PostgreSQL that a test can break, slow down or watch.
pub struct Proxy {
    pub port: u16,
    state: Arc<Mutex<ProxyState>>,
}

struct ProxyState {
    mode: ProxyMode,
    /// Added to every chunk, each way (half the round-trip time).
    one_way: Duration,
    connections: Vec<tokio::task::AbortHandle>,
    cuts: usize,
    /// Times a client spoke after the hub had answered: protocol round trips.
    turns: usize,
}

impl Proxy {
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ProxyState {
            mode: ProxyMode::Up,
            one_way: Duration::ZERO,
            connections: Vec::new(),
            cuts: 0,
            turns: 0,
        }));
        let accept_state = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mode = accept_state.lock().unwrap().mode;
                let task = match mode {
                    ProxyMode::Down => {
                        drop(client);
                        continue;
                    }
                    // Accepted and read, never answered.
                    ProxyMode::Blackhole => tokio::spawn(async move {
                        let mut client = client;
                        let mut sink = [0u8; 16 * 1024];
                        while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
                    }),
                    _ => {
                        let Ok(server) = TcpStream::connect("127.0.0.1:5432").await else {
                            continue;
                        };
                        tokio::spawn(relay(client, server, accept_state.clone()))
                    }
                };
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

    /// Delays every chunk by `rtt / 2` each way: a link with that round-trip time.
    pub fn set_rtt(&self, rtt: Duration) {
        self.state.lock().unwrap().one_way = rtt / 2;
    }

    /// A handle another task can use to break or mend the proxy.
    pub fn handle(&self) -> ProxyHandle {
        ProxyHandle {
            state: self.state.clone(),
        }
    }

    /// How many answers to a push were swallowed.
    pub fn cuts(&self) -> usize {
        self.state.lock().unwrap().cuts
    }

    /// Protocol round trips so far (a client speaking again after the hub answered).
    pub fn turns(&self) -> usize {
        self.state.lock().unwrap().turns
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

/// Where one connection's push-answer cut stands.
#[derive(Default)]
struct Exchange {
    /// Which side spoke last (true: the client).
    client_spoke_last: bool,
    /// 0: no push seen; 1: the push was prepared; 2: its answer to the prepare went back;
    /// 3: the client sent the call itself; the hub's next words are swallowed.
    push_phase: u8,
}

async fn relay(client: TcpStream, server: TcpStream, state: Arc<Mutex<ProxyState>>) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let exchange = Arc::new(Mutex::new(Exchange::default()));
    // Both directions run inside this task, so aborting it (the proxy going down) cuts the
    // connection at once.
    tokio::join!(
        pump(
            client_read,
            server_write,
            true,
            state.clone(),
            exchange.clone()
        ),
        pump(server_read, client_write, false, state, exchange),
    );
}

/// Copies one direction through a delay line: chunks are read as they come and written
/// `one_way` later, so latency does not also throttle bandwidth.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    upstream: bool,
    state: Arc<Mutex<ProxyState>>,
    exchange: Arc<Mutex<Exchange>>,
) {
    let (line, mut delayed) =
        tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>, bool)>();
    let reader_state = state.clone();
    let reader = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let chunk = buffer[..n].to_vec();
            let mut swallow = false;
            {
                let mut state = reader_state.lock().unwrap();
                let mut exchange = exchange.lock().unwrap();
                if upstream {
                    if !exchange.client_spoke_last {
                        state.turns += 1;
                    }
                    exchange.client_spoke_last = true;
                    if state.mode == ProxyMode::CutAfterCommit {
                        if exchange.push_phase == 0
                            && chunk.windows(14).any(|w| w == b"venuebox_push(")
                        {
                            exchange.push_phase = 1;
                        } else if exchange.push_phase == 2 {
                            exchange.push_phase = 3;
                        }
                    }
                } else {
                    exchange.client_spoke_last = false;
                    if exchange.push_phase == 1 {
                        exchange.push_phase = 2;
                    } else if exchange.push_phase == 3 {
                        swallow = true;
                    }
                }
            }
            if swallow {
                // The hub has answered the push (it committed first): the node never hears it.
                let mut state = reader_state.lock().unwrap();
                state.cuts += 1;
                state.mode = ProxyMode::Up;
                let _ = line.send((tokio::time::Instant::now(), Vec::new(), true));
                return;
            }
            if line
                .send((tokio::time::Instant::now(), chunk, false))
                .is_err()
            {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((read_at, chunk, cut)) = delayed.recv().await {
            if cut {
                break;
            }
            let one_way = state.lock().unwrap().one_way;
            tokio::time::sleep_until(read_at + one_way).await;
            if state.lock().unwrap().mode == ProxyMode::Blackhole {
                continue;
            }
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
    };
    // The writer ends when the reader does (its channel closes) or on a cut.
    tokio::join!(reader, writer);
}
