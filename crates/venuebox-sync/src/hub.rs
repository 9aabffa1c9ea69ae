//! The hub side: connecting to PostgreSQL (TLS when the URL asks for it), the hub's
//! migrations, and the push / pull transactions. Every function here runs on the hub; the
//! node's SQLite is never touched.
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Transaction};
use venuebox_store::sync::{ConflictRecord, DELETED_FIELD, OutboxEntry, OutboxOp, PulledChange};
use venuebox_store::{KindDef, registry};

use crate::error::{Result, SyncError};
use crate::merge::{self, FieldOutcome};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The channel pushes NOTIFY on; nodes LISTEN on a dedicated connection.
pub const CHANNEL: &str = "venuebox_changes";
/// Every transaction that appends to the change log takes this lock first, so sequence order
/// is commit order and a puller never skips an entry that commits late.
const LOG_LOCK: i64 = 0x7665_6e75_6562_6f78; // "venuebox"
/// Held while migrating, so two nodes creating the hub at once don't race.
const MIGRATE_LOCK: i64 = LOG_LOCK + 1;

/// Where the hub is, for logs: host, port and database, never the user or password.
pub fn describe(url: &str) -> String {
    match url.parse::<Config>() {
        Ok(config) => {
            let host = config
                .get_hosts()
                .first()
                .map(|h| match h {
                    tokio_postgres::config::Host::Tcp(name) => name.clone(),
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

    fn config(&self) -> Config {
        let mut config: Config = self.url.parse().expect("checked in new");
        config.connect_timeout(Duration::from_secs(10));
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("venuebox");
        }
        config
    }

    /// Opens a connection; its messages (NOTIFY included) go to `messages` when given.
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
        if config.get_ssl_mode() == SslMode::Require {
            let (client, connection) = config
                .connect(tls_connector(self.ca_file.as_deref())?)
                .await
                .map_err(SyncError::unreachable)?;
            drive!(connection);
            Ok(client)
        } else {
            let (client, connection) = config
                .connect(NoTls)
                .await
                .map_err(SyncError::unreachable)?;
            drive!(connection);
            Ok(client)
        }
    }

    /// A connection for pushes and pulls, with the hub's schema migrated.
    pub async fn connect(&self) -> Result<Hub> {
        let mut client = self.open(None).await?;
        migrate(&mut client).await?;
        Ok(Hub {
            client,
            statements: Statements::default(),
        })
    }

    /// A dedicated connection that LISTENs for new change-log entries; each sends the new
    /// head sequence. Dropping the receiver closes it.
    pub async fn listen(&self) -> Result<(Client, tokio::sync::mpsc::UnboundedReceiver<i64>)> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let client = self.open(Some(tx)).await?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(SyncError::hub)?;
        Ok((client, rx))
    }
}

async fn migrate(client: &mut Client) -> Result<()> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])
        .await
        .map_err(SyncError::hub)?;
    let outcome = embedded::migrations::runner()
        .set_migration_table_name("venuebox_hub_migrations")
        .run_async(client)
        .await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK])
        .await
        .map_err(SyncError::hub)?;
    let report = outcome.map_err(|e| SyncError::Hub(format!("hub migration failed: {e}")))?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "hub migration applied");
    }
    Ok(())
}

/// What the hub says when a node says hello.
#[derive(Debug, Clone)]
pub struct Hello {
    pub epoch: String,
    /// The node's last outbox sequence the hub has applied.
    pub last_seq: i64,
    pub head_seq: i64,
    pub pruned_before_seq: i64,
    /// Node wall clock minus hub clock.
    pub clock_skew_ms: i64,
    pub max_clock_drift_ms: i64,
}

/// What a push did.
#[derive(Debug, Clone, Default)]
pub struct PushReport {
    /// (node_seq, hub seq) of every entry of the batch the hub holds, new or from before.
    pub acks: Vec<(i64, i64)>,
    pub applied: usize,
    pub conflicts: usize,
    pub head_seq: i64,
}

/// A page of the change log.
#[derive(Debug, Clone)]
pub struct PullPage {
    pub changes: Vec<PulledChange>,
    /// Where the node's cursor moves once it has applied `changes`.
    pub next_cursor: i64,
    pub head_seq: i64,
}

/// Which productions a node pulls besides the global data.
#[derive(Debug, Clone)]
pub enum PullScope {
    All,
    Held(Vec<String>),
}

pub struct Hub {
    client: Client,
    statements: Statements,
}

/// Statements prepared once per connection: a push runs a handful of them per entry, and
/// preparing each time would double the round trips.
#[derive(Default)]
struct Statements(HashMap<&'static str, tokio_postgres::Statement>);

impl Statements {
    async fn get(
        &mut self,
        client: &impl tokio_postgres::GenericClient,
        sql: &'static str,
    ) -> Result<tokio_postgres::Statement> {
        if let Some(statement) = self.0.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql).await.map_err(SyncError::hub)?;
        self.0.insert(sql, statement.clone());
        Ok(statement)
    }
}

/// What one push transaction carries from entry to entry.
struct PushCtx<'a> {
    tx: Transaction<'a>,
    statements: &'a mut Statements,
    node_id: &'a str,
    hub_now: i64,
    drift: i64,
    /// Productions known to accept writes in this transaction (cleared when one is deleted).
    writable: std::collections::HashSet<String>,
}

type Params<'p> = &'p [&'p (dyn tokio_postgres::types::ToSql + Sync)];

impl PushCtx<'_> {
    async fn stmt(&mut self, sql: &'static str) -> Result<tokio_postgres::Statement> {
        self.statements.get(&self.tx, sql).await
    }
    async fn execute(&mut self, sql: &'static str, params: Params<'_>) -> Result<u64> {
        let statement = self.stmt(sql).await?;
        self.tx
            .execute(&statement, params)
            .await
            .map_err(SyncError::hub)
    }
    async fn query_opt(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Option<tokio_postgres::Row>> {
        let statement = self.stmt(sql).await?;
        self.tx
            .query_opt(&statement, params)
            .await
            .map_err(SyncError::hub)
    }
    async fn query_one(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<tokio_postgres::Row> {
        let statement = self.stmt(sql).await?;
        self.tx
            .query_one(&statement, params)
            .await
            .map_err(SyncError::hub)
    }
}

fn hub_now_sql() -> &'static str {
    "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
}

async fn meta_i64(tx: &impl tokio_postgres::GenericClient, key: &str) -> Result<i64> {
    let row = tx
        .query_one("SELECT value FROM hub_meta WHERE key = $1", &[&key])
        .await
        .map_err(SyncError::hub)?;
    let text: String = row.get(0);
    text.parse()
        .map_err(|_| SyncError::Hub(format!("hub_meta {key} is not a number: {text}")))
}

/// The scope column of a change: the production a row belongs to, or NULL for global data.
fn scope_of(kind: &KindDef, uuid: &str, production_id: Option<&str>) -> Option<String> {
    if kind.name == "production" {
        Some(uuid.to_owned())
    } else {
        production_id.map(str::to_owned)
    }
}

struct CurrentRow {
    data: Map<String, Value>,
    clocks: Map<String, Value>,
    deleted: bool,
}

async fn load_for_update(ctx: &mut PushCtx<'_>, uuid: &str) -> Result<Option<CurrentRow>> {
    let row = ctx
        .query_opt(
            "SELECT data, clocks, deleted_hlc IS NOT NULL FROM hub_entities WHERE uuid = $1 \
             FOR UPDATE",
            &[&uuid],
        )
        .await?;
    Ok(row.map(|row| {
        let data: Value = row.get(0);
        let clocks: Value = row.get(1);
        CurrentRow {
            data: into_object(data),
            clocks: into_object(clocks),
            deleted: row.get(2),
        }
    }))
}

fn into_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A conflict about to be written.
struct NewConflict {
    column: String,
    reason: &'static str,
    winner: (Value, Option<String>),
    loser: (Value, Option<String>),
}

/// The hub's verdict on one entry, before it is logged.
struct Verdict {
    op: &'static str,
    data: Map<String, Value>,
    clocks: Map<String, Value>,
    conflicts: Vec<NewConflict>,
    resolved: Option<Value>,
}

impl Verdict {
    /// A refused change must not linger on the node that made it: the verdict restates what
    /// the hub holds for the touched fields (or deletes the row, when the hub has none), and
    /// every node, the sender included, takes that.
    fn restating(mut self, entry: &OutboxEntry, current: Option<CurrentRow>) -> Verdict {
        match current {
            Some(current) if !current.deleted => {
                self.op = "upsert";
                self.clocks = entry
                    .fields
                    .keys()
                    .map(|column| {
                        let clock = current
                            .clocks
                            .get(column)
                            .cloned()
                            .unwrap_or(Value::String(String::new()));
                        (column.clone(), clock)
                    })
                    .collect();
                for conflict in &mut self.conflicts {
                    conflict.winner = (
                        current
                            .data
                            .get(&conflict.column)
                            .cloned()
                            .unwrap_or(Value::Null),
                        current
                            .clocks
                            .get(&conflict.column)
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    );
                }
                self.data = current.data;
            }
            _ => self.op = "delete",
        }
        self
    }

    fn refused(entry: &OutboxEntry, reason: &'static str) -> Verdict {
        let conflicts = entry
            .fields
            .iter()
            .map(|(column, value)| NewConflict {
                column: column.clone(),
                reason,
                winner: (Value::Null, None),
                loser: (
                    value.clone(),
                    entry
                        .clocks
                        .get(column)
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                ),
            })
            .collect();
        Verdict {
            op: "refused",
            data: Map::new(),
            clocks: Map::new(),
            conflicts,
            resolved: None,
        }
    }
}

impl Hub {
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Registers the node (or refreshes it) and reports what it needs to know before syncing.
    pub async fn hello(&self, node_id: &str, node_name: &str, node_wall_ms: i64) -> Result<Hello> {
        let hub_now: i64 = self
            .client
            .query_one(hub_now_sql(), &[])
            .await
            .map_err(SyncError::hub)?
            .get(0);
        let skew = node_wall_ms - hub_now;
        let row = self
            .client
            .query_one(
                "INSERT INTO hub_nodes (node_id, name, clock_skew_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (node_id) DO UPDATE SET name = excluded.name, \
                 clock_skew_ms = excluded.clock_skew_ms, last_seen = now() \
                 RETURNING last_seq",
                &[&node_id, &node_name, &skew],
            )
            .await
            .map_err(SyncError::hub)?;
        let last_seq: i64 = row.get(0);
        let epoch: String = self
            .client
            .query_one("SELECT value FROM hub_meta WHERE key = 'epoch'", &[])
            .await
            .map_err(SyncError::hub)?
            .get(0);
        Ok(Hello {
            epoch,
            last_seq,
            head_seq: self.head().await?,
            pruned_before_seq: meta_i64(&self.client, "pruned_before_seq").await?,
            clock_skew_ms: skew,
            max_clock_drift_ms: meta_i64(&self.client, "max_clock_drift_ms").await?,
        })
    }

    pub async fn head(&self) -> Result<i64> {
        Ok(self
            .client
            .query_one("SELECT coalesce(max(seq), 0) FROM hub_changes", &[])
            .await
            .map_err(SyncError::hub)?
            .get(0))
    }

    /// Applies a batch of one node's outbox in one transaction. Entries the hub already
    /// holds (a retry after a lost answer) change nothing; they are acknowledged again.
    pub async fn push(
        &mut self,
        node_id: &str,
        node_cursor: i64,
        entries: &[OutboxEntry],
    ) -> Result<PushReport> {
        let Hub { client, statements } = self;
        let tx = client.transaction().await.map_err(SyncError::hub)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOG_LOCK])
            .await
            .map_err(SyncError::hub)?;
        let pruned_before = meta_i64(&tx, "pruned_before_seq").await?;
        if node_cursor < pruned_before {
            return Err(SyncError::Stale {
                cursor: node_cursor,
                pruned_before,
            });
        }
        let drift = meta_i64(&tx, "max_clock_drift_ms").await?;
        let hub_now: i64 = tx
            .query_one(hub_now_sql(), &[])
            .await
            .map_err(SyncError::hub)?
            .get(0);
        let mut last_seq: i64 = tx
            .query_one(
                "INSERT INTO hub_nodes (node_id) VALUES ($1) ON CONFLICT (node_id) \
                 DO UPDATE SET last_seen = now() RETURNING last_seq",
                &[&node_id],
            )
            .await
            .map_err(SyncError::hub)?
            .get(0);
        let mut ctx = PushCtx {
            tx,
            statements,
            node_id,
            hub_now,
            drift,
            writable: std::collections::HashSet::new(),
        };
        let mut report = PushReport::default();
        for entry in entries {
            if entry.node_seq <= last_seq {
                continue;
            }
            if entry.node_seq != last_seq + 1 {
                return Err(SyncError::Hub(format!(
                    "outbox sequence gap: the hub has {last_seq}, the next entry is {}",
                    entry.node_seq
                )));
            }
            let verdict = apply_entry(&mut ctx, entry).await?;
            report.conflicts += verdict.conflicts.len();
            log_verdict(&mut ctx, entry, verdict).await?;
            report.applied += 1;
            last_seq = entry.node_seq;
        }
        let tx = ctx.tx;
        tx.execute(
            "UPDATE hub_nodes SET last_seq = $2, pull_cursor = greatest(pull_cursor, $3), \
             last_seen = now() WHERE node_id = $1",
            &[&node_id, &last_seq, &node_cursor],
        )
        .await
        .map_err(SyncError::hub)?;
        let seqs: Vec<i64> = entries.iter().map(|e| e.node_seq).collect();
        let rows = tx
            .query(
                "SELECT origin_seq, seq FROM hub_changes WHERE origin_node = $1 \
                 AND origin_seq = ANY($2)",
                &[&node_id, &seqs],
            )
            .await
            .map_err(SyncError::hub)?;
        report.acks = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        report.acks.sort_unstable();
        let head: i64 = tx
            .query_one("SELECT coalesce(max(seq), 0) FROM hub_changes", &[])
            .await
            .map_err(SyncError::hub)?
            .get(0);
        report.head_seq = head;
        if report.applied > 0 {
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &head.to_string()])
                .await
                .map_err(SyncError::hub)?;
        }
        tx.commit().await.map_err(SyncError::hub)?;
        Ok(report)
    }

    /// The next page of the change log after `cursor`, for the given scope. The page is read
    /// from one snapshot; because writers serialize on the log lock, that snapshot holds every
    /// entry up to its head and the cursor can safely move to it.
    pub async fn pull(
        &mut self,
        node_id: &str,
        cursor: i64,
        scope: &PullScope,
        limit: i64,
    ) -> Result<PullPage> {
        let tx = self
            .client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(SyncError::hub)?;
        let pruned_before = meta_i64(&tx, "pruned_before_seq").await?;
        if cursor < pruned_before {
            return Err(SyncError::Stale {
                cursor,
                pruned_before,
            });
        }
        let head: i64 = tx
            .query_one("SELECT coalesce(max(seq), 0) FROM hub_changes", &[])
            .await
            .map_err(SyncError::hub)?
            .get(0);
        let (all, held) = match scope {
            PullScope::All => (true, Vec::new()),
            PullScope::Held(list) => (false, list.clone()),
        };
        let rows = tx
            .query(
                "SELECT seq, op, kind, uuid, production_id, data, clocks, origin_node, actor, \
                 conflicts, resolved FROM hub_changes \
                 WHERE seq > $1 AND seq <= $2 AND ($3 OR scope IS NULL OR scope = ANY($4)) \
                 ORDER BY seq LIMIT $5",
                &[&cursor, &head, &all, &held, &limit],
            )
            .await
            .map_err(SyncError::hub)?;
        tx.commit().await.map_err(SyncError::hub)?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in &rows {
            let conflicts: Value = row.get(9);
            let resolved: Option<Value> = row.get(10);
            changes.push(PulledChange {
                seq: row.get(0),
                op: row.get(1),
                kind: row.get(2),
                uuid: row.get(3),
                production_id: row.get(4),
                data: into_object(row.get(5)),
                clocks: into_object(row.get(6)),
                origin_node: row.get(7),
                actor: row.get(8),
                conflicts: serde_json::from_value(conflicts)
                    .map_err(|e| SyncError::Hub(format!("conflicts in the change log: {e}")))?,
                resolved: resolved.and_then(|r| {
                    Some((
                        r.get("id")?.as_i64()?,
                        r.get("resolution")?.as_str()?.to_owned(),
                    ))
                }),
            });
        }
        let next_cursor = if (rows.len() as i64) < limit {
            head
        } else {
            changes.last().map(|c| c.seq).unwrap_or(head)
        };
        self.client
            .execute(
                "UPDATE hub_nodes SET pull_cursor = greatest(pull_cursor, $2), last_seen = now() \
                 WHERE node_id = $1",
                &[&node_id, &next_cursor],
            )
            .await
            .map_err(SyncError::hub)?;
        Ok(PullPage {
            changes,
            next_cursor,
            head_seq: head,
        })
    }

    /// Purges tombstones and change-log entries older than the hub's tombstone window.
    /// Returns the new `pruned_before_seq`.
    pub async fn prune(&mut self) -> Result<i64> {
        let tx = self.client.transaction().await.map_err(SyncError::hub)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOG_LOCK])
            .await
            .map_err(SyncError::hub)?;
        let window = meta_i64(&tx, "tombstone_window_secs").await?;
        let cutoff: Option<i64> = tx
            .query_one(
                "SELECT max(seq) FROM hub_changes \
                 WHERE at < now() - make_interval(secs => $1::bigint::double precision)",
                &[&window],
            )
            .await
            .map_err(SyncError::hub)?
            .get(0);
        let mut pruned_before = meta_i64(&tx, "pruned_before_seq").await?;
        if let Some(cutoff) = cutoff {
            tx.execute("DELETE FROM hub_changes WHERE seq <= $1", &[&cutoff])
                .await
                .map_err(SyncError::hub)?;
            pruned_before = pruned_before.max(cutoff + 1);
            tx.execute(
                "UPDATE hub_meta SET value = $1 WHERE key = 'pruned_before_seq'",
                &[&pruned_before.to_string()],
            )
            .await
            .map_err(SyncError::hub)?;
        }
        tx.execute(
            "DELETE FROM hub_entities WHERE deleted_at IS NOT NULL \
             AND deleted_at < now() - make_interval(secs => $1::bigint::double precision)",
            &[&window],
        )
        .await
        .map_err(SyncError::hub)?;
        tx.commit().await.map_err(SyncError::hub)?;
        Ok(pruned_before)
    }
}

async fn apply_entry(ctx: &mut PushCtx<'_>, entry: &OutboxEntry) -> Result<Verdict> {
    match entry.op {
        OutboxOp::Resolve => resolve_entry(ctx, entry).await,
        OutboxOp::Delete => delete_entry(ctx, entry).await,
        OutboxOp::Upsert => upsert_entry(ctx, entry).await,
    }
}

/// Why a row of a production cannot be written now, if it cannot.
async fn production_refusal(
    ctx: &mut PushCtx<'_>,
    entry: &OutboxEntry,
) -> Result<Option<&'static str>> {
    let production = match (entry.kind.as_str(), &entry.production_id) {
        ("production", _) => entry.uuid.clone(),
        (_, Some(id)) => id.clone(),
        (_, None) => return Ok(None),
    };
    if ctx.writable.contains(&production) {
        return Ok(None);
    }
    let row = ctx
        .query_one(
            "SELECT (SELECT deleted_hlc IS NOT NULL FROM hub_entities WHERE uuid = $1), \
             (SELECT node_id FROM hub_locks WHERE production_id = $1)",
            &[&production],
        )
        .await?;
    let deleted: Option<bool> = row.get(0);
    let locked_by: Option<String> = row.get(1);
    let refusal = match (deleted, locked_by) {
        (Some(true), _) => Some("production deleted"),
        (None, _) if entry.kind != "production" => Some("production missing"),
        (_, Some(holder)) if holder != ctx.node_id => Some("locked"),
        _ => None,
    };
    // A production that exists and is not locked by another node stays writable for the rest
    // of this transaction, unless an entry deletes it (which clears this).
    if refusal.is_none() && deleted == Some(false) {
        ctx.writable.insert(production);
    }
    Ok(refusal)
}

async fn upsert_entry(ctx: &mut PushCtx<'_>, entry: &OutboxEntry) -> Result<Verdict> {
    if let Some(reason) = production_refusal(ctx, entry).await? {
        let current = load_for_update(ctx, &entry.uuid).await?;
        return Ok(Verdict::refused(entry, reason).restating(entry, current));
    }
    let clock_of = |column: &str| -> String {
        entry
            .clocks
            .get(column)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let current = load_for_update(ctx, &entry.uuid).await?;
    let Some(current) = current else {
        // A row the hub has never seen: the entry's whole row, the touched fields stamped.
        let mut data = entry.row.clone().unwrap_or_default();
        let mut clocks = Map::new();
        for (column, value) in &entry.fields {
            data.insert(column.clone(), value.clone());
            let admitted = merge::admit_clock(&clock_of(column), "", ctx.hub_now, ctx.drift);
            clocks.insert(column.clone(), Value::String(admitted));
        }
        data.entry(DELETED_FIELD).or_insert(Value::Bool(false));
        ctx.execute(
            "INSERT INTO hub_entities (uuid, kind, production_id, data, clocks) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &entry.uuid,
                &entry.kind,
                &entry.production_id,
                &Value::Object(data.clone()),
                &Value::Object(clocks.clone()),
            ],
        )
        .await?;
        return Ok(Verdict {
            op: "upsert",
            data,
            clocks,
            conflicts: Vec::new(),
            resolved: None,
        });
    };
    if current.deleted {
        return Ok(Verdict::refused(entry, "deleted").restating(entry, Some(current)));
    }
    let mut data = current.data;
    let mut clocks = current.clocks;
    let mut touched = Map::new();
    let mut conflicts = Vec::new();
    for (column, incoming) in &entry.fields {
        let current_value = data.get(column).cloned().unwrap_or(Value::Null);
        let current_clock = clocks
            .get(column)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let admitted =
            merge::admit_clock(&clock_of(column), &current_clock, ctx.hub_now, ctx.drift);
        let base = entry
            .bases
            .get(column)
            .and_then(Value::as_str)
            .unwrap_or_default();
        match merge::merge_field(
            Some((&current_value, &current_clock)),
            (incoming, &admitted),
            base,
            ctx.node_id,
        ) {
            FieldOutcome::Applied { overwritten } => {
                if let Some((value, clock)) = overwritten {
                    conflicts.push(NewConflict {
                        column: column.clone(),
                        reason: "concurrent",
                        winner: (incoming.clone(), Some(admitted.clone())),
                        loser: (value, Some(clock)),
                    });
                }
                data.insert(column.clone(), incoming.clone());
                clocks.insert(column.clone(), Value::String(admitted));
            }
            FieldOutcome::Lost => conflicts.push(NewConflict {
                column: column.clone(),
                reason: "concurrent",
                winner: (current_value.clone(), Some(current_clock.clone())),
                loser: (incoming.clone(), Some(admitted)),
            }),
            FieldOutcome::Unchanged => {}
        }
        touched.insert(
            column.clone(),
            clocks
                .get(column)
                .cloned()
                .unwrap_or(Value::String(String::new())),
        );
    }
    ctx.execute(
        "UPDATE hub_entities SET data = $2, clocks = $3 WHERE uuid = $1",
        &[
            &entry.uuid,
            &Value::Object(data.clone()),
            &Value::Object(clocks),
        ],
    )
    .await?;
    Ok(Verdict {
        op: "upsert",
        data,
        clocks: touched,
        conflicts,
        resolved: None,
    })
}

/// Delete wins: a tombstone stands against any update, earlier or later. Updates the deleter
/// had not seen (clocks after its base, from other nodes) are kept in the conflict log.
async fn delete_entry(ctx: &mut PushCtx<'_>, entry: &OutboxEntry) -> Result<Verdict> {
    if let Some(reason) = production_refusal(ctx, entry).await?
        && reason == "locked"
    {
        // The row stays; the deleting node gets it back, whole, and the refusal is logged.
        let current = load_for_update(ctx, &entry.uuid).await?;
        let mut verdict = Verdict::refused(entry, reason);
        verdict.conflicts.push(NewConflict {
            column: DELETED_FIELD.into(),
            reason,
            winner: (Value::Bool(false), None),
            loser: (
                Value::Bool(true),
                entry
                    .clocks
                    .get(DELETED_FIELD)
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            ),
        });
        if let Some(current) = current.filter(|c| !c.deleted) {
            verdict.op = "upsert";
            verdict.clocks = current
                .data
                .keys()
                .map(|column| {
                    let clock = current.clocks.get(column).cloned();
                    (
                        column.clone(),
                        clock.unwrap_or(Value::String(String::new())),
                    )
                })
                .collect();
            verdict.data = current.data;
        }
        return Ok(verdict);
    }
    let stamp = entry
        .clocks
        .get(DELETED_FIELD)
        .and_then(Value::as_str)
        .unwrap_or_default();
    let stamp = merge::admit_clock(stamp, "", ctx.hub_now, ctx.drift);
    let base = entry
        .bases
        .get(DELETED_FIELD)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut conflicts = Vec::new();
    match load_for_update(ctx, &entry.uuid).await? {
        None => {
            ctx.execute(
                "INSERT INTO hub_entities (uuid, kind, production_id, data, deleted_hlc, \
                 deleted_at) VALUES ($1, $2, $3, '{}', $4, now())",
                &[&entry.uuid, &entry.kind, &entry.production_id, &stamp],
            )
            .await?;
        }
        Some(current) if current.deleted => {}
        Some(current) => {
            for (column, clock) in &current.clocks {
                let clock = clock.as_str().unwrap_or_default();
                if clock > base.as_str() && merge::is_concurrent(&base, clock, ctx.node_id) {
                    conflicts.push(NewConflict {
                        column: column.clone(),
                        reason: "deleted",
                        winner: (Value::Null, Some(stamp.clone())),
                        loser: (
                            current.data.get(column).cloned().unwrap_or(Value::Null),
                            Some(clock.to_owned()),
                        ),
                    });
                }
            }
            ctx.execute(
                "UPDATE hub_entities SET deleted_hlc = $2, deleted_at = now() WHERE uuid = $1",
                &[&entry.uuid, &stamp],
            )
            .await?;
            if entry.kind == "production" {
                ctx.writable.clear();
                ctx.execute(
                    "UPDATE hub_entities SET deleted_hlc = $2, deleted_at = now() \
                     WHERE production_id = $1 AND deleted_hlc IS NULL",
                    &[&entry.uuid, &stamp],
                )
                .await?;
                ctx.execute(
                    "DELETE FROM hub_locks WHERE production_id = $1",
                    &[&entry.uuid],
                )
                .await?;
            }
        }
    }
    let mut clocks = Map::new();
    clocks.insert(DELETED_FIELD.into(), Value::String(stamp));
    Ok(Verdict {
        op: "delete",
        data: Map::new(),
        clocks,
        conflicts,
        resolved: None,
    })
}

async fn resolve_entry(ctx: &mut PushCtx<'_>, entry: &OutboxEntry) -> Result<Verdict> {
    let node_id = ctx.node_id;
    let id = entry
        .fields
        .get("conflictId")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let resolution = entry
        .fields
        .get("resolution")
        .and_then(Value::as_str)
        .unwrap_or("ours")
        .to_owned();
    // The first resolution stands; a second one from another node is logged with the first.
    let row = ctx
        .query_opt(
            "UPDATE hub_conflicts SET resolved_at = coalesce(resolved_at, now()), \
             resolution = coalesce(resolution, $2), resolved_by = coalesce(resolved_by, $3) \
             WHERE id = $1 RETURNING resolution",
            &[&id, &resolution, &node_id],
        )
        .await?;
    let stored: String = row.map(|r| r.get(0)).unwrap_or(resolution);
    Ok(Verdict {
        op: "resolve",
        data: Map::new(),
        clocks: Map::new(),
        conflicts: Vec::new(),
        resolved: Some(json!({"id": id, "resolution": stored})),
    })
}

async fn log_verdict(ctx: &mut PushCtx<'_>, entry: &OutboxEntry, verdict: Verdict) -> Result<()> {
    let node_id = ctx.node_id;
    let kind = registry().get(&entry.kind);
    let scope = match kind {
        Some(kind) => scope_of(kind, &entry.uuid, entry.production_id.as_deref()),
        None => entry.production_id.clone(),
    };
    let mut records = Vec::with_capacity(verdict.conflicts.len());
    for conflict in &verdict.conflicts {
        let row = ctx
            .query_one(
                "INSERT INTO hub_conflicts (kind, uuid, production_id, column_name, reason, \
                 winner_value, winner_hlc, winner_node, loser_value, loser_hlc, loser_node) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 RETURNING id, to_char(created_at AT TIME ZONE 'UTC', \
                 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
                &[
                    &entry.kind,
                    &entry.uuid,
                    &entry.production_id,
                    &conflict.column,
                    &conflict.reason,
                    &conflict.winner.0,
                    &conflict.winner.1,
                    &conflict
                        .winner
                        .1
                        .as_deref()
                        .and_then(venuebox_store::hlc::Hlc::node_of),
                    &conflict.loser.0,
                    &conflict.loser.1,
                    &conflict
                        .loser
                        .1
                        .as_deref()
                        .and_then(venuebox_store::hlc::Hlc::node_of)
                        .or_else(|| Some(node_id.to_owned())),
                ],
            )
            .await?;
        records.push(ConflictRecord {
            id: row.get(0),
            kind: entry.kind.clone(),
            uuid: entry.uuid.clone(),
            production_id: entry.production_id.clone(),
            column: conflict.column.clone(),
            reason: conflict.reason.to_owned(),
            winner_value: conflict.winner.0.clone(),
            winner_hlc: conflict.winner.1.clone(),
            winner_node: conflict
                .winner
                .1
                .as_deref()
                .and_then(venuebox_store::hlc::Hlc::node_of),
            loser_value: conflict.loser.0.clone(),
            loser_hlc: conflict.loser.1.clone(),
            loser_node: conflict
                .loser
                .1
                .as_deref()
                .and_then(venuebox_store::hlc::Hlc::node_of)
                .or_else(|| Some(node_id.to_owned())),
            created_at: row.get(1),
            resolved_at: None,
            resolution: None,
        });
    }
    let conflicts = serde_json::to_value(&records).unwrap_or(Value::Array(Vec::new()));
    ctx.execute(
        "INSERT INTO hub_changes (op, kind, uuid, production_id, scope, data, clocks, \
             origin_node, origin_seq, actor, conflicts, resolved) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &verdict.op,
            &entry.kind,
            &entry.uuid,
            &entry.production_id,
            &scope,
            &Value::Object(verdict.data),
            &Value::Object(verdict.clocks),
            &node_id,
            &entry.node_seq,
            &entry.actor,
            &conflicts,
            &verdict.resolved,
        ],
    )
    .await?;
    Ok(())
}

/// A production on the hub, for `venuebox productions`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductionSummary {
    pub id: String,
    pub name: Option<String>,
    pub client: Option<String>,
    pub venue: Option<String>,
    pub load_in: Option<String>,
    /// Live rows in it, by kind.
    pub counts: HashMap<String, i64>,
    pub locked_by: Option<String>,
    pub locked_by_name: Option<String>,
    pub locked_at: Option<String>,
}

/// One row of a download snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotRow {
    pub uuid: String,
    pub kind: String,
    pub production_id: Option<String>,
    pub data: Map<String, Value>,
    pub clocks: Map<String, Value>,
}

/// What the hub holds for a production (and the global data), to verify a download.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeDigest {
    pub counts: std::collections::BTreeMap<String, i64>,
    /// SHA-256 over the sorted `uuid:kind` lines of every live row.
    pub checksum: String,
}

/// The rows a download takes: the production, its rows, and the global data (equipment
/// library, formats, settings). Production headers of other shows are not included.
const SNAPSHOT_SCOPE: &str = "deleted_hlc IS NULL AND (uuid = $1 OR production_id = $1 \
     OR (production_id IS NULL AND kind <> 'production'))";

impl Hub {
    pub async fn productions(&self) -> Result<Vec<ProductionSummary>> {
        let rows = self
            .client
            .query(
                "SELECT e.uuid, coalesce(e.data->>'show_name', e.data->>'name'), e.data->>'client', e.data->>'venue', \
                 e.data->>'load_in', l.node_id, n.name, \
                 to_char(l.locked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                 FROM hub_entities e LEFT JOIN hub_locks l ON l.production_id = e.uuid \
                 LEFT JOIN hub_nodes n ON n.node_id = l.node_id \
                 WHERE e.kind = 'production' AND e.deleted_hlc IS NULL \
                 ORDER BY e.data->>'load_in' NULLS LAST, e.data->>'show_name'",
                &[],
            )
            .await
            .map_err(SyncError::hub)?;
        let counts = self
            .client
            .query(
                "SELECT production_id, kind, count(*) FROM hub_entities \
                 WHERE deleted_hlc IS NULL AND production_id IS NOT NULL \
                 GROUP BY production_id, kind",
                &[],
            )
            .await
            .map_err(SyncError::hub)?;
        let mut by_production: HashMap<String, HashMap<String, i64>> = HashMap::new();
        for row in &counts {
            by_production
                .entry(row.get(0))
                .or_default()
                .insert(row.get(1), row.get(2));
        }
        Ok(rows
            .iter()
            .map(|row| {
                let id: String = row.get(0);
                ProductionSummary {
                    counts: by_production.remove(&id).unwrap_or_default(),
                    id,
                    name: row.get(1),
                    client: row.get(2),
                    venue: row.get(3),
                    load_in: row.get(4),
                    locked_by: row.get(5),
                    locked_by_name: row.get(6),
                    locked_at: row.get(7),
                }
            })
            .collect())
    }

    /// Finds a production by id, or by name when exactly one live production has it.
    pub async fn find_production(&self, id_or_name: &str) -> Result<String> {
        let rows = self
            .client
            .query(
                "SELECT uuid FROM hub_entities WHERE kind = 'production' AND deleted_hlc IS NULL \
                 AND (uuid = $1 OR lower(coalesce(data->>'show_name', data->>'name')) = lower($1)) ORDER BY uuid = $1 DESC",
                &[&id_or_name],
            )
            .await
            .map_err(SyncError::hub)?;
        match rows.as_slice() {
            [] => Err(SyncError::NotFound(format!(
                "no production {id_or_name:?} on the hub (`venuebox productions` lists them)"
            ))),
            [one] => Ok(one.get(0)),
            [first, ..] if first.get::<_, String>(0) == id_or_name => Ok(first.get(0)),
            many => Err(SyncError::NotFound(format!(
                "{} productions are called {id_or_name:?}; use the id",
                many.len()
            ))),
        }
    }

    /// The next chunk of a production's snapshot, in uuid order after `after`.
    pub async fn snapshot_chunk(
        &self,
        production: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<SnapshotRow>> {
        let sql = format!(
            "SELECT uuid, kind, production_id, data, clocks FROM hub_entities \
             WHERE {SNAPSHOT_SCOPE} AND uuid > $2 ORDER BY uuid LIMIT $3"
        );
        let rows = self
            .client
            .query(&sql, &[&production, &after, &limit])
            .await
            .map_err(SyncError::hub)?;
        Ok(rows
            .iter()
            .map(|row| SnapshotRow {
                uuid: row.get(0),
                kind: row.get(1),
                production_id: row.get(2),
                data: into_object(row.get(3)),
                clocks: into_object(row.get(4)),
            })
            .collect())
    }

    /// Rows a snapshot of the production will have (for progress).
    pub async fn snapshot_size(&self, production: &str) -> Result<i64> {
        let sql = format!("SELECT count(*) FROM hub_entities WHERE {SNAPSHOT_SCOPE}");
        Ok(self
            .client
            .query_one(&sql, &[&production])
            .await
            .map_err(SyncError::hub)?
            .get(0))
    }

    /// Counts and checksum of the production's own rows (global data is checked by presence).
    pub async fn digest(&self, production: &str) -> Result<ScopeDigest> {
        const PRODUCTION_SCOPE: &str = "deleted_hlc IS NULL AND (uuid = $1 OR production_id = $1)";
        let sql = format!(
            "SELECT kind, count(*) FROM hub_entities WHERE {PRODUCTION_SCOPE} GROUP BY kind"
        );
        let rows = self
            .client
            .query(&sql, &[&production])
            .await
            .map_err(SyncError::hub)?;
        let sql = format!(
            "SELECT encode(sha256(convert_to(coalesce(string_agg(uuid || ':' || kind, E'\\n' \
             ORDER BY uuid COLLATE \"C\"), ''), 'UTF8')), 'hex') FROM hub_entities \
             WHERE {PRODUCTION_SCOPE}"
        );
        let checksum: String = self
            .client
            .query_one(&sql, &[&production])
            .await
            .map_err(SyncError::hub)?
            .get(0);
        Ok(ScopeDigest {
            counts: rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
            checksum,
        })
    }

    /// Records that `node_id` holds the production for a show. Another node's lock is refused.
    pub async fn lock(&self, production: &str, node_id: &str) -> Result<()> {
        let holder: String = self
            .client
            .query_one(
                "INSERT INTO hub_locks (production_id, node_id) VALUES ($1, $2) \
                 ON CONFLICT (production_id) DO UPDATE SET production_id = excluded.production_id \
                 RETURNING node_id",
                &[&production, &node_id],
            )
            .await
            .map_err(SyncError::hub)?
            .get(0);
        if holder != node_id {
            let name: Option<String> = self
                .client
                .query_opt("SELECT name FROM hub_nodes WHERE node_id = $1", &[&holder])
                .await
                .map_err(SyncError::hub)?
                .and_then(|row| row.get(0));
            return Err(SyncError::Locked(format!(
                "production {production} is locked by {} ({holder})",
                name.unwrap_or_else(|| "another box".into())
            )));
        }
        Ok(())
    }

    /// Releases this node's lock (a lock of another node stays).
    pub async fn unlock(&self, production: &str, node_id: &str) -> Result<bool> {
        Ok(self
            .client
            .execute(
                "DELETE FROM hub_locks WHERE production_id = $1 AND node_id = $2",
                &[&production, &node_id],
            )
            .await
            .map_err(SyncError::hub)?
            > 0)
    }
}

/// Counts for `venuebox status` and tests: live rows per kind on the hub.
pub async fn live_counts(client: &Client) -> Result<HashMap<String, i64>> {
    let rows = client
        .query(
            "SELECT kind, count(*) FROM hub_entities WHERE deleted_hlc IS NULL GROUP BY kind",
            &[],
        )
        .await
        .map_err(SyncError::hub)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
