//! Venuebox storage: one SQLite file per node.
//!
//! * [`Store::open`] creates the data folder and database, applies the refinery migrations,
//!   seeds the equipment library, formats and settings lists on first start, and starts the
//!   single writer thread ([`writer`]).
//! * Reads run on a small pool of read-only connections through [`Store::read`], a
//!   `spawn_blocking` helper; WAL mode means they never wait for the writer.
//! * Writes run through [`Store::write`] on the writer (one transaction per batch, answered
//!   after the fsync'd commit), and publish [`ChangeEvent`]s to [`Store::subscribe`]rs.
//! * The kinds and their fields are declared in [`kinds`] with the types of [`registry`].
mod access;
pub mod backup;
pub mod clock;
pub mod codec;
pub mod entities;
pub mod error;
pub mod hlc;
mod hooks;
pub mod kinds;
mod labels;
pub mod model;
mod pages;
mod ports;
mod read;
pub mod registry;
pub mod replica;
pub mod resolution;
mod rows;
pub mod seed;
pub mod settings;
mod transfer;
pub mod workbook;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, broadcast};

pub use access::TokenInfo;
pub use error::{Result, StoreError};
pub use kinds::registry;
pub use model::{Actor, ChangeEvent, Entity, Operation};
pub use pages::JsonPages;
pub use registry::KindDef;
pub use resolution::Resolution;
pub use writer::{Committed, WriteTx, WriterStats};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The database file inside the data folder.
pub const DATABASE_FILE: &str = "venuebox.db";
/// Held exclusively by whoever has the database open for writing (the running box, or a
/// `restore`), so two of them never share a data folder.
pub const LOCK_FILE: &str = "venuebox.lock";

/// An exclusive hold on a data folder, released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

impl DataDirLock {
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock> {
        std::fs::create_dir_all(data_dir)?;
        make_private(data_dir)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(data_dir.join(LOCK_FILE))?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(StoreError::Locked(data_dir.display().to_string()))
            }
            Err(std::fs::TryLockError::Error(err)) => Err(err.into()),
        }
    }
}
/// Show data, credentials' hashes and the node's identity are nobody else's to read: the
/// folder becomes 0700 and the files directly in it 0600, whatever umask created them (a box
/// run by hand used to leave 0755 and 0644). New files follow from the binary's umask (077).
/// (On Windows the folder under the user's local app data is private by its ACL.)
#[cfg(unix)]
pub fn make_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn make_private(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Writes `text` to a new file only its owner can read (0600 whatever the umask), and syncs
/// it: the first-start passphrase, the box's TLS key and certificate.
pub fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(file)?;
    out.write_all(text.as_bytes())?;
    out.sync_all()
}

/// How many change events a slow subscriber may fall behind before it misses some.
const EVENT_BUFFER: usize = 4096;

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The most read-only connections open at once (opened as concurrent reads need them).
    pub readers: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { readers: 4 }
    }
}

/// A handle to the node's database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Released by [`Store::close`]: once the writer is gone this process cannot write, and a
    /// restarted box must not wait for the last read-only clone to be dropped.
    lock: Mutex<Option<DataDirLock>>,
    path: PathBuf,
    node_id: String,
    clock: Arc<hlc::HlcClock>,
    writer: writer::Writer,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    reader_slots: Semaphore,
    events: broadcast::Sender<Committed>,
}

/// Settings every connection gets. `synchronous=FULL` makes each commit fsync the WAL, so
/// start-up's writes (migrations, seeding) survive a power cut; the writer then switches to
/// `NORMAL` and has its flusher fsync the WAL before any write is answered (`writer.rs`).
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    // Every statement the store runs is `prepare_cached`, and there are more than rusqlite's
    // default 16 of them: a pull that cycled through ~20 kept re-parsing SQL (a third of its
    // CPU). 128 holds them all, a few KB each.
    conn.set_prepared_statement_cache_capacity(128);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

fn open_writer_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Internal(format!(
            "the database refused WAL mode (got {mode})"
        )));
    }
    configure(&conn)?;
    Ok(conn)
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

/// Where the snapshot taken before an upgrade goes: the default backups folder.
pub const BACKUPS_DIR: &str = "backups";

/// Applies pending migrations; returns the names of those applied now. An existing database
/// with migrations pending is first copied to `<data_dir>/backups` (a verified snapshot), and
/// all pending migrations run in one transaction: a failing one leaves the database exactly
/// as it was, and the error says which migration failed and why.
fn migrate(conn: &mut Connection, database: &Path) -> Result<Vec<String>> {
    let runner = embedded::migrations::runner().set_grouped(true);
    let existing: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'refinery_schema_history')",
        [],
        |row| row.get(0),
    )?;
    if existing && runner.get_applied_migrations(conn)?.len() < runner.get_migrations().len() {
        let dir = database
            .parent()
            .map(|p| p.join(BACKUPS_DIR))
            .unwrap_or_else(|| PathBuf::from(BACKUPS_DIR));
        let saved = backup::snapshot(database, &dir)?;
        tracing::info!(file = %saved.file, "database saved before applying migrations");
    }
    let report = runner.run(conn)?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| format!("V{}__{}", m.version(), m.name()))
        .collect())
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`, migrates and seeds it, and
    /// starts the writer. Blocking: call it from a blocking context.
    pub fn open(data_dir: &Path, options: StoreOptions) -> Result<Store> {
        let lock = DataDirLock::acquire(data_dir)?;
        let path = data_dir.join(DATABASE_FILE);
        backup::apply_staged_restore(data_dir, &path)?;
        let mut conn = open_writer_connection(&path)?;
        let applied = migrate(&mut conn, &path)?;
        if !applied.is_empty() {
            tracing::info!(?applied, "database migrations applied");
        }
        let node_id = seed::ensure_node_id(&conn)?;
        seed::ensure_seeded(&mut conn)?;
        // One reader now (a database that cannot be read fails the start); the others are
        // opened when concurrent reads first need them, so an idle box holds one connection's
        // schema and page cache rather than four.
        let readers = vec![open_reader(&path)?];
        let reader_limit = options.readers.max(1);
        let clock = Arc::new(hlc::HlcClock::new(
            &node_id,
            replica::outbox::persisted_clock(&conn)?.as_deref(),
        ));
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let checkpoints = open_writer_connection(&path)?;
        let (writer, handle) =
            writer::Writer::spawn(conn, checkpoints, clock.clone(), events.clone())?;
        Ok(Store {
            inner: Arc::new(Inner {
                lock: Mutex::new(Some(lock)),
                path,
                node_id,
                clock,
                writer,
                writer_thread: Mutex::new(Some(handle)),
                reader_slots: Semaphore::new(reader_limit),
                readers: Mutex::new(readers),
                events,
            }),
        })
    }

    /// Applies migrations (and first-start seeding) without starting anything; for
    /// `venuebox migrate`. Returns the migrations applied now.
    pub fn migrate_only(data_dir: &Path) -> Result<Vec<String>> {
        let _lock = DataDirLock::acquire(data_dir)?;
        let database = data_dir.join(DATABASE_FILE);
        let mut conn = open_writer_connection(&database)?;
        let applied = migrate(&mut conn, &database)?;
        seed::ensure_node_id(&conn)?;
        seed::ensure_seeded(&mut conn)?;
        Ok(applied)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// This node's stable id (generated on first start).
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// A verified snapshot of the database in `dir` (see [`backup`]); writers keep going.
    pub async fn backup_to(&self, dir: PathBuf) -> Result<backup::BackupFile> {
        let database = self.inner.path.clone();
        tokio::task::spawn_blocking(move || backup::snapshot(&database, &dir))
            .await
            .map_err(|e| StoreError::Internal(format!("backup task failed: {e}")))?
    }

    /// This node's hybrid logical clock (stamps every local change for sync).
    pub fn clock(&self) -> &hlc::HlcClock {
        &self.inner.clock
    }

    pub fn writer_stats(&self) -> &WriterStats {
        &self.inner.writer.stats
    }

    /// Committed writes (each with its changes), in commit order, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.inner.events.subscribe()
    }

    /// Runs `op` on a read-only connection on the blocking pool. The typed methods of the
    /// store's modules are built on this; callers outside use it for ad-hoc queries (tests).
    pub async fn read<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let _slot = self
            .inner
            .reader_slots
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().expect("reader pool lock").pop();
            let conn = match pooled {
                Some(conn) => conn,
                // Every open reader is busy (there are fewer than the limit), or one was lost
                // to a panic: open another.
                None => open_reader(&inner.path)?,
            };
            let result = op(&conn);
            inner.readers.lock().expect("reader pool lock").push(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }

    /// Runs `op` inside the writer's transaction; resolves after the commit is on disk.
    pub async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteTx<'_>) -> Result<T> + Send + 'static,
    {
        self.inner.writer.write(op).await
    }

    /// Checks that the database answers; returns how long a trivial query took.
    pub async fn ping(&self) -> Result<Duration> {
        let started = std::time::Instant::now();
        self.read(|conn| Ok(conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?))
            .await?;
        Ok(started.elapsed())
    }

    /// Checks both paths a request takes: a reader answers and the writer thread commits.
    /// The service watchdog pings systemd only while this succeeds, so a wedged writer (every
    /// write would hang) gets the process restarted instead of a box that looks alive.
    pub async fn check_alive(&self) -> Result<()> {
        self.ping().await?;
        self.write(|_tx| Ok(())).await
    }

    pub async fn list(
        &self,
        kind: &'static KindDef,
        production_id: Option<String>,
        deleted: bool,
    ) -> Result<Vec<Value>> {
        self.read(move |conn| read::list(conn, kind, production_id.as_deref(), deleted))
            .await
    }

    pub async fn get(&self, kind: &'static KindDef, key: String) -> Result<Value> {
        self.read(move |conn| read::get(conn, kind, &key)).await
    }

    /// [`Store::get`] as the JSON bytes of the response.
    pub async fn get_json(&self, kind: &'static KindDef, key: String) -> Result<Vec<u8>> {
        self.read(move |conn| read::get_json(conn, kind, &key))
            .await
    }

    pub async fn create(&self, kind: &'static KindDef, body: Map<String, Value>) -> Result<Value> {
        let decoded = codec::decode_body(kind, body)?;
        self.write(move |tx| {
            let entity = entities::create(tx, kind, decoded, Default::default())?;
            read::answer(tx, kind, &entity)
        })
        .await
    }

    pub async fn update(
        &self,
        kind: &'static KindDef,
        key: String,
        body: Map<String, Value>,
    ) -> Result<Value> {
        let decoded = codec::decode_body(kind, body)?;
        self.write(move |tx| {
            let entity = entities::update(tx, kind, &key, decoded)?;
            read::answer(tx, kind, &entity)
        })
        .await
    }

    pub async fn delete(
        &self,
        kind: &'static KindDef,
        key: String,
        actor: Actor,
    ) -> Result<Entity> {
        self.write(move |tx| entities::delete(tx, kind, &key, actor))
            .await
    }

    /// Commits everything already queued, stops the writer and waits for it. Writes after
    /// this fail with [`StoreError::Closed`]; reads keep working.
    pub fn close(&self) {
        self.inner.writer.stop();
        let handle = self.inner.writer_thread.lock().expect("writer lock").take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the writer thread panicked");
        }
        drop(self.inner.lock.lock().expect("data folder lock").take());
    }
}

#[cfg(test)]
mod migration_tests {
    use super::*;

    /// V7 rebuilds the JSON tables without their checks: a database made by V1–V6 keeps every
    /// row, its rowid (lists page by it) and its clocks, and the outbox its entries.
    #[test]
    fn dropping_the_json_checks_keeps_every_row_and_its_rowid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATABASE_FILE);
        let mut conn = open_writer_connection(&path).unwrap();
        embedded::migrations::runner()
            .set_grouped(true)
            .set_target(refinery::Target::Version(6))
            .run(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO entities (rowid, uuid, kind, production_id, data, created_at, updated_at, clocks)
                 VALUES (41, 'u1', 'source', 'p1', '{\"name\":\"CAM 1\"}', 't', 't', '{\"name\":\"c1\"}'),
                        (7, 'u2', 'source', 'p1', '{\"name\":\"CAM 2\"}', 't', 't', '{}');
             INSERT INTO sync_outbox (node_seq, op, kind, uuid, fields, clocks, bases, created_at, replay)
                 VALUES (3, 'upsert', 'source', 'u1', '{}', '{}', '{}', 't', 1);",
        )
        .unwrap();
        let invalid = conn.execute(
            "INSERT INTO entities (uuid, kind, data, created_at, updated_at) VALUES ('x', 'k', 'not json', 't', 't')",
            [],
        );
        assert!(invalid.is_err(), "V6 still checks");
        migrate(&mut conn, &path).unwrap();
        let rows: Vec<(i64, String, String, String)> = conn
            .prepare("SELECT rowid, uuid, data, clocks FROM entities ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (7, "u2".into(), r#"{"name":"CAM 2"}"#.into(), "{}".into()),
                (
                    41,
                    "u1".into(),
                    r#"{"name":"CAM 1"}"#.into(),
                    r#"{"name":"c1"}"#.into()
                ),
            ]
        );
        let replay: i64 = conn
            .query_row(
                "SELECT replay FROM sync_outbox WHERE node_seq = 3",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(replay, 1);
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN \
                 ('entities_by_production', 'entities_linked_by_kind')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 2);
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
}

#[cfg(test)]
mod query_plan_tests {
    use super::*;

    fn plan(conn: &rusqlite::Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let unbound = vec![rusqlite::types::Null; stmt.parameter_count()];
        let details = stmt
            .query_map(rusqlite::params_from_iter(unbound), |row| {
                row.get::<_, String>(3)
            })
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        details.join("; ")
    }

    /// Migration V8 dropped the index by kind (a WAL page per create): every query that used
    /// it still searches an index, on a database without statistics as a box's is, rather
    /// than reading the whole table.
    #[test]
    fn the_reads_that_used_the_index_by_kind_still_search_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATABASE_FILE);
        let mut conn = open_writer_connection(&path).unwrap();
        migrate(&mut conn, &path).unwrap();
        for kind in ["devicePort", "cable"] {
            let found = plan(&conn, &read::list_by_field_sql(registry().kind(kind)));
            assert!(
                found.contains("SEARCH entities USING INDEX entities_linked_by_kind"),
                "{kind}: {found}"
            );
        }
        let global = plan(&conn, &rows::global_rows_sql());
        assert!(found_search_by_production(&global), "global list: {global}");
        let paged = plan(
            &conn,
            &format!(
                "SELECT rowid FROM entities WHERE {} AND kind = ?2 AND is_deleted = ?3",
                read::production_filter(None)
            ),
        );
        assert!(found_search_by_production(&paged), "paged list: {paged}");
    }

    fn found_search_by_production(plan: &str) -> bool {
        plan.contains("SEARCH entities USING INDEX entities_by_production (production_id=? AND kind=? AND is_deleted=?)")
            || plan.contains("SEARCH entities USING COVERING INDEX entities_by_production (production_id=? AND kind=? AND is_deleted=?)")
    }
}

#[cfg(test)]
mod staged_restore_tests {
    use super::*;

    /// A staged backup that no longer passes its check at the next start is not applied: the
    /// box starts on its current database, untouched, and the marker is set aside.
    #[test]
    fn a_staged_backup_spoiled_before_the_start_is_not_restored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let node = store.node_id().to_owned();
        store.close();
        let saved =
            backup::snapshot(&dir.path().join(DATABASE_FILE), &dir.path().join("b")).unwrap();
        let staged = dir.path().join("b").join(saved.file);
        backup::stage_restore(dir.path(), &staged).unwrap();
        std::fs::write(&staged, b"not a database any more").unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(store.node_id(), node, "the current database, untouched");
        store.close();
        assert!(backup::staged_restore(dir.path()).is_none());
        assert!(dir.path().join("restore-staged.failed").exists());
    }
}
