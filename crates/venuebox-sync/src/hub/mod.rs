//! The hub side: reaching PostgreSQL (TLS when the URL asks for it), the hub's schema, and
//! the protocol, one module per part. Every call here runs on the hub; the node's SQLite is
//! never touched.
//!
//! * this module: connecting (session limits, TCP keepalive and user timeout), migrating,
//!   and `hello` (epoch, what the hub holds from the node, restore detection);
//! * [`push`]: a batch of the outbox, merged on the hub in one call;
//! * [`pull`]: a page of the change log in one call, and pruning it;
//! * [`productions`]: what the pre-show download and the production lock need.
//!
//! The merge itself is SQL (`migrations/V2__server_side_merge.sql`): the hub never waits on a
//! client inside a transaction another node could be waiting for.
pub mod productions;
pub mod pull;
pub mod push;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};
use venuebox_store::replica::{Anchor, HubProgress};

use crate::error::{Result, SyncError};

pub use productions::{ProductionSummary, ScopeDigest, SnapshotRow, live_counts};
pub use pull::{PullPage, PullScope};
pub use push::PushReport;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The channel pushes NOTIFY on; nodes LISTEN on a dedicated connection.
pub const CHANNEL: &str = "venuebox_changes";
/// Held while migrating, so two nodes creating the hub at once don't race. (The change log's
/// own lock is taken inside the hub's functions.)
const MIGRATE_LOCK: i64 = 0x7665_6e75_6562_6f79;

/// Limits every hub session runs under. A session is never left idle inside a transaction
/// (the calls are single statements), but if one ever were, it could not hold the log for
/// long; a statement that runs away is cancelled; the server notices a vanished client.
/// Settings an older server does not know are skipped.
const SESSION_LIMITS: &str = "SELECT set_config(name, value, false) FROM (VALUES \
    ('statement_timeout', '60s'), ('idle_in_transaction_session_timeout', '10s'), \
    ('lock_timeout', '30s'), ('tcp_user_timeout', '10000'), \
    ('client_connection_check_interval', '5000')) AS limits(name, value) \
    WHERE name IN (SELECT name FROM pg_settings)";

/// Where the hub is, for logs: host, port and database, never the user or password.
pub fn describe(url: &str) -> String {
    match url.parse::<Config>() {
        Ok(config) => {
            let host = config
                .get_hosts()
                .first()
                .map(|h| match h {
                    tokio_postgres::config::Host::Tcp(name) => name.clone(),
                    #[cfg(unix)]
                    tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                })
                .unwrap_or_else(|| "localhost".into());
            let port = config.get_ports().first().copied().unwrap_or(5432);
            let db = config.get_dbname().unwrap_or("postgres");
            format!("{host}:{port}/{db}")
        }
        Err(_) => "an unparsable hub URL".into(),
    }
}

fn tls_connector(ca_file: Option<&Path>) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            SyncError::Config(format!("cannot read hub.ca_file {}: {e}", path.display()))
        })?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert
                .map_err(|e| SyncError::Config(format!("hub.ca_file {}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| SyncError::Config(format!("hub.ca_file {}: {e}", path.display())))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| SyncError::Config(format!("TLS setup: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// What [`HubTarget::probe`] found.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HubProbe {
    pub server_version: String,
    /// The database already holds a Venuebox hub (else the first sync creates it).
    pub has_hub: bool,
    pub millis: u64,
}

/// How to reach the hub.
#[derive(Clone)]
pub struct HubTarget {
    url: String,
    ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for HubTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HubTarget({})", describe(&self.url))
    }
}

impl HubTarget {
    pub fn new(url: impl Into<String>, ca_file: Option<std::path::PathBuf>) -> Result<HubTarget> {
        let url = url.into();
        url.parse::<Config>()
            .map_err(|e| SyncError::Config(format!("hub.url is not a PostgreSQL URL: {e}")))?;
        Ok(HubTarget { url, ca_file })
    }

    pub fn describe(&self) -> String {
        describe(&self.url)
    }

    /// The connection settings: a dead hub (or a dead uplink) is noticed in seconds, not after
    /// the two hours of the operating system's default keepalive. Idle: probes after 10 s,
    /// then every 2 s, three lost ones end the connection. With data unacknowledged for 10 s
    /// (TCP user timeout) the connection ends too.
    fn config(&self) -> Config {
        let mut config: Config = self.url.parse().expect("checked in new");
        config.connect_timeout(Duration::from_secs(10));
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        config.keepalives_interval(Duration::from_secs(2));
        config.keepalives_retries(3);
        config.tcp_user_timeout(Duration::from_secs(10));
        if config.get_application_name().is_none() {
            config.application_name("venuebox");
        }
        config
    }

    /// Opens a connection with the session limits; its NOTIFY messages go to `messages`.
    async fn open(
        &self,
        messages: Option<tokio::sync::mpsc::UnboundedSender<i64>>,
    ) -> Result<Client> {
        let config = self.config();
        macro_rules! drive {
            ($connection:expr) => {{
                let mut connection = $connection;
                tokio::spawn(async move {
                    let mut stream =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    use futures_util::StreamExt;
                    while let Some(message) = stream.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(note)) => {
                                if let Some(tx) = &messages {
                                    let seq = note.payload().parse().unwrap_or(0);
                                    if tx.send(seq).is_err() {
                                        break;
                                    }
                                }
                            }
                            Ok(_) => {}
                            Err(err) => {
                                tracing::debug!(error = %err, "hub connection closed");
                                break;
                            }
                        }
                    }
                });
            }};
        }
        let client = if config.get_ssl_mode() == SslMode::Require {
            let (client, connection) = config
                .connect(tls_connector(self.ca_file.as_deref())?)
                .await
                .map_err(SyncError::unreachable)?;
            drive!(connection);
            client
        } else {
            let (client, connection) = config
                .connect(NoTls)
                .await
                .map_err(SyncError::unreachable)?;
            drive!(connection);
            client
        };
        client.batch_execute(SESSION_LIMITS).await?;
        Ok(client)
    }

    /// Checks that the hub answers, without changing it (no migration): for the console's
    /// "test connection" before a URL is saved. Reports the server's version, whether it
    /// already holds a Venuebox hub, and how long the check took.
    pub async fn probe(&self) -> Result<HubProbe> {
        let started = std::time::Instant::now();
        let client = self.open(None).await?;
        let row = client
            .query_one(
                "SELECT current_setting('server_version'), to_regclass('hub_changes') IS NOT NULL",
                &[],
            )
            .await?;
        Ok(HubProbe {
            server_version: row.get(0),
            has_hub: row.get(1),
            millis: started.elapsed().as_millis() as u64,
        })
    }

    /// A connection for pushes and pulls, with the hub's schema migrated.
    pub async fn connect(&self) -> Result<HubSession> {
        let mut client = self.open(None).await?;
        migrate(&mut client).await?;
        Ok(HubSession { client })
    }

    /// A dedicated connection that LISTENs for new change-log entries; each sends the new
    /// head sequence. Dropping the receiver closes it.
    pub async fn listen(&self) -> Result<(Client, tokio::sync::mpsc::UnboundedReceiver<i64>)> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let client = self.open(Some(tx)).await?;
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        Ok((client, rx))
    }
}

async fn migrate(client: &mut Client) -> Result<()> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])
        .await?;
    let outcome = embedded::migrations::runner()
        .set_migration_table_name("venuebox_hub_migrations")
        .run_async(client)
        .await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK])
        .await?;
    let report = outcome.map_err(|e| SyncError::Hub(format!("hub migration failed: {e}")))?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "hub migration applied");
    }
    Ok(())
}

/// What the hub says when a node says hello.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hello {
    pub epoch: String,
    /// The node's last outbox sequence the hub has applied.
    pub last_seq: i64,
    pub head_seq: i64,
    /// The highest change-log sequence purged (0: none).
    pub pruned_through: i64,
    /// Node wall clock minus hub clock.
    pub clock_skew_ms: i64,
    pub max_clock_drift_ms: i64,
    pub tombstone_window_secs: i64,
    /// Why the hub is not the one this node synced with (restored from a dump), if it is not.
    pub restored: Option<String>,
}

/// A session with the hub.
pub struct HubSession {
    client: Client,
}

impl HubSession {
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Registers the node (or refreshes it) and reports what it needs to know before syncing.
    pub async fn hello(
        &self,
        node_id: &str,
        node_name: &str,
        node_wall_ms: i64,
        progress: &HubProgress,
    ) -> Result<Hello> {
        let anchor = progress
            .anchor
            .as_ref()
            .map(|a| tokio_postgres::types::Json(a.clone()));
        let text: String = self
            .client
            .query_one(
                "SELECT venuebox_hello($1, $2, $3, $4, $5, $6)::text",
                &[
                    &node_id,
                    &node_name,
                    &node_wall_ms,
                    &progress.cursor,
                    &anchor,
                    &progress.acked,
                ],
            )
            .await?
            .get(0);
        serde_json::from_str(&text)
            .map_err(|e| SyncError::Hub(format!("the hub's hello did not parse: {e}")))
    }

    /// The newest sequence of the change log.
    pub async fn head(&self) -> Result<i64> {
        Ok(self
            .client
            .query_one("SELECT venuebox_head()", &[])
            .await?
            .get(0))
    }

    /// The origin of the log entry at `seq`, if it is still there.
    pub async fn anchor_at(&self, seq: i64) -> Result<Option<Anchor>> {
        Ok(self
            .client
            .query_opt(
                "SELECT origin_node, origin_seq FROM hub_changes WHERE seq = $1",
                &[&seq],
            )
            .await?
            .map(|row| Anchor {
                origin_node: row.get(0),
                origin_seq: row.get(1),
            }))
    }
}
