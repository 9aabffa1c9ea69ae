//! The one writer: a thread that owns the only read-write SQLite connection, and a flusher
//! thread that makes its commits durable.
//!
//! Writes queue here, so concurrent requests never meet `SQLITE_BUSY`. Whatever is queued
//! while one batch runs becomes the next batch: one `BEGIN IMMEDIATE`, a `SAVEPOINT` per write
//! (a refused write rolls back alone), one `COMMIT` (group commit).
//!
//! The commit itself does not wait for the disk (`synchronous=NORMAL` on this connection in
//! WAL mode): the flusher fdatasyncs the write-ahead log after it, and only then is each
//! caller answered and the batch's change events published. Meanwhile the writer already runs
//! the next batch, so on a card that takes 10 ms per flush the CPU work of one batch and the
//! flush of the one before overlap, and one flush covers every batch committed while the last
//! one ran. An answered write is on disk exactly as with `synchronous=FULL`; what changes is
//! that another connection may read a committed write up to one flush before it is durable
//! (see README "Durability").
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::hlc::HlcClock;
use crate::labels::DisplayCounters;
use crate::model::ChangeEvent;

/// The changes of one committed write, published together once they are on disk.
pub type Committed = Arc<[ChangeEvent]>;
use crate::error::{Result, StoreError};

/// Most writes folded into one commit; bounds the latency one batch adds to its last write.
const MAX_BATCH: usize = 256;

/// The longest the flusher waits for more commits before a flush (see [`flusher_loop`]).
const MAX_COMMIT_DELAY: Duration = Duration::from_millis(5);

/// The transaction a write runs in, and the events it will publish once committed.
pub struct WriteTx<'c> {
    conn: &'c Connection,
    events: Vec<ChangeEvent>,
    /// Stamps local changes for the outbox; absent while seeding (every node seeds the same
    /// rows, so seeding is not a change to sync).
    clock: Option<&'c HlcClock>,
    /// The writer thread's display-id counters; absent while seeding (labels then go through
    /// the floor in `meta`).
    labels: Option<&'c DisplayCounters>,
}

impl<'c> WriteTx<'c> {
    pub fn conn(&self) -> &'c Connection {
        self.conn
    }
    pub fn clock(&self) -> Option<&'c HlcClock> {
        self.clock
    }
    pub(crate) fn labels(&self) -> Option<&'c DisplayCounters> {
        self.labels
    }
    pub fn emit(&mut self, event: ChangeEvent) {
        self.events.push(event);
    }
    /// The wire form the last event carries, if it is the row `uuid`'s: a write answers with
    /// it rather than rendering the row (and reading its embedded rows) a second time.
    pub(crate) fn last_rendered(&self, uuid: &str) -> Option<&serde_json::Value> {
        self.events
            .last()
            .filter(|event| event.uuid == uuid)
            .map(|event| &event.entity)
    }
    /// A transaction outside the writer thread (start-up seeding); its events are dropped.
    pub(crate) fn detached(conn: &'c Connection) -> Self {
        WriteTx {
            conn,
            events: Vec::new(),
            clock: None,
            labels: None,
        }
    }
}

trait Job: Send {
    /// Runs the write inside its savepoint; false when it was refused and must be undone.
    fn run(&mut self, conn: &Connection, clock: &HlcClock, labels: &DisplayCounters) -> bool;
    /// Answers the caller once the batch's fate is known; returns the events to publish.
    fn finish(self: Box<Self>, commit: &Result<(), String>) -> Vec<ChangeEvent>;
}

struct TypedJob<T, F> {
    op: Option<F>,
    outcome: Option<Result<T>>,
    events: Vec<ChangeEvent>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut WriteTx<'_>) -> Result<T> + Send + 'static,
{
    fn run(&mut self, conn: &Connection, clock: &HlcClock, labels: &DisplayCounters) -> bool {
        let op = self.op.take().expect("a job runs once");
        let mut tx = WriteTx {
            conn,
            events: Vec::new(),
            clock: Some(clock),
            labels: Some(labels),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| op(&mut tx))).unwrap_or_else(|_| {
            Err(StoreError::Internal(
                "a write panicked and was rolled back".into(),
            ))
        });
        let ok = outcome.is_ok();
        self.events = tx.events;
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, commit: &Result<(), String>) -> Vec<ChangeEvent> {
        let outcome = self.outcome.unwrap_or(Err(StoreError::Closed));
        let (answer, events) = match (outcome, commit) {
            (Ok(value), Ok(())) => (Ok(value), self.events),
            (Ok(_), Err(reason)) => (Err(StoreError::Unavailable(reason.clone())), Vec::new()),
            (Err(refused), _) => (Err(refused), Vec::new()),
        };
        // The caller may have gone away (client disconnected); the write stands regardless.
        let _ = self.reply.send(answer);
        events
    }
}

/// Figures for benchmarks and `/metrics`.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub commits: AtomicU64,
    pub writes: AtomicU64,
    pub commit_micros_total: AtomicU64,
    /// fdatasyncs of the write-ahead log; each covers one commit or more.
    pub flushes: AtomicU64,
}

/// The database's write-ahead log, opened by the flusher to fdatasync it: a sync flushes the
/// file, whichever descriptor asks. Reopened if the path names another file than the one held
/// (SQLite removes the log when the last connection closes and makes it again).
struct WalFile {
    path: PathBuf,
    held: Option<(File, u64)>,
}

impl WalFile {
    fn of_database(conn: &Connection) -> WalFile {
        let database = conn.path().unwrap_or_default();
        WalFile {
            path: PathBuf::from(format!("{database}-wal")),
            held: None,
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        let identity = file_identity(&std::fs::metadata(&self.path)?);
        let file = match self.held.take() {
            Some((file, held)) if held == identity => file,
            _ => open_for_sync(&self.path)?,
        };
        let synced = file.sync_data();
        self.held = Some((file, identity));
        synced
    }
}

/// A handle that may be synced: any on Unix; on Windows `FlushFileBuffers` needs write access.
fn open_for_sync(path: &std::path::Path) -> std::io::Result<File> {
    if cfg!(windows) {
        std::fs::OpenOptions::new().write(true).open(path)
    } else {
        File::open(path)
    }
}

#[cfg(unix)]
fn file_identity(metadata: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(metadata)
}

/// Without inode numbers the log is opened again for every flush.
#[cfg(not(unix))]
fn file_identity(_: &std::fs::Metadata) -> u64 {
    u64::MAX
}

/// A committed (or failed) batch on its way to the flusher.
struct Done {
    jobs: Vec<Box<dyn Job>>,
    commit: Result<(), String>,
}

enum Message {
    Write(Box<dyn Job>),
    /// Commit what is queued before this, then exit.
    Stop,
}

#[derive(Clone)]
pub struct Writer {
    queue: mpsc::UnboundedSender<Message>,
    pub stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts the writer on `conn`, with its flusher, and its checkpointer on `checkpoints`
    /// (a second read-write connection to the same database).
    pub fn spawn(
        mut conn: Connection,
        checkpoints: Connection,
        clock: Arc<HlcClock>,
        events: broadcast::Sender<Committed>,
    ) -> Result<(Writer, JoinHandle<()>)> {
        // Start-up (migrations, seeding) committed with `synchronous=FULL`; from here the
        // flusher makes each commit durable before anyone hears of it.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let checkpointer = spawn_checkpointer(&mut conn, checkpoints)?;
        let wal = WalFile::of_database(&conn);
        let (queue, jobs) = mpsc::unbounded_channel();
        let (done, flushing) = std::sync::mpsc::channel();
        let stats = Arc::new(WriterStats::default());
        let flusher_stats = stats.clone();
        let flusher = std::thread::Builder::new()
            .name("sqlite-flusher".into())
            .spawn(move || flusher_loop(wal, flushing, events, &flusher_stats))?;
        let writer_stats = stats.clone();
        let handle = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                // The display-id counters live on this thread, the only one that writes.
                let labels = DisplayCounters::default();
                writer_loop(&conn, &clock, &labels, jobs, done, &writer_stats);
                // Every batch is flushed and answered before the writer counts as stopped,
                // and the connection (whose close may checkpoint and remove the log) closes
                // only after the last flush.
                let _ = flusher.join();
                // Closing the connection drops its hook, which lets the checkpointer go.
                drop(conn);
                let _ = checkpointer.join();
            })?;
        Ok((Writer { queue, stats }, handle))
    }

    /// Runs `op` in the writer's transaction; resolves once it is committed to disk.
    pub async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteTx<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = TypedJob {
            op: Some(op),
            outcome: None,
            events: Vec::new(),
            reply,
        };
        self.queue
            .send(Message::Write(Box::new(job)))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Asks the writer to exit once everything queued before now is committed.
    pub fn stop(&self) {
        let _ = self.queue.send(Message::Stop);
    }
}

/// Pages in the write-ahead log past which it is copied back into the database (SQLite's
/// default auto-checkpoint).
const CHECKPOINT_PAGES: i32 = 1000;
/// Past this the writer checkpoints itself, as SQLite would, whatever the checkpointer does:
/// under a sustained load its passive checkpoints may never catch up with the log's end, and
/// the log would grow without bound.
const BACKSTOP_PAGES: i32 = 4 * CHECKPOINT_PAGES;

/// Most checkpoints run on their own thread and connection, not in the writer's commit. A
/// checkpoint syncs the log and then the database (two fsyncs: 20 ms on an SD card that takes
/// 10) and copies pages; on the writer that stalls every write queued meanwhile (with a 10 ms
/// fsync, 50 clients: 1,393 writes/s and p99 77 ms with SQLite's checkpoint every 1,000 pages
/// on the writer, 1,716 and 40 ms with none at all). Passive checkpoints block neither the
/// writer nor readers. The writer's hook (it replaces SQLite's auto-checkpoint) asks the
/// checkpointer for one each time the log grows by [`CHECKPOINT_PAGES`].
///
/// The log starts again from its beginning only when a write begins after a checkpoint that
/// copied all of it. A checkpoint on another thread overlaps the next commits, so under
/// steady writes it never copies all of it (and asked after every commit, it checkpointed a
/// few frames each time: two syncs a write, measured). So the writer still checkpoints itself
/// at [`BACKSTOP_PAGES`]: by then the checkpointer has copied most of the log, and the log is
/// bounded. The same number of syncs as SQLite's own scheme; a quarter of them on the writer,
/// none when writes pause long enough for a background checkpoint to finish.
fn spawn_checkpointer(conn: &mut Connection, checkpoints: Connection) -> Result<JoinHandle<()>> {
    let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
    let mut next_wake = CHECKPOINT_PAGES;
    let mut backstop = BACKSTOP_PAGES;
    let mut last_pages = 0;
    conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages: i32| {
        let grew = if pages < last_pages {
            // The log started again from its beginning.
            next_wake = CHECKPOINT_PAGES;
            backstop = BACKSTOP_PAGES;
            pages
        } else {
            pages - last_pages
        };
        last_pages = pages;
        if grew >= BACKSTOP_PAGES {
            // One commit this large (a download's install) is not a sustained load: its
            // checkpoint goes to the checkpointer, and the backstop moves past it, so the
            // caller is not kept waiting for 16 MB to be copied (an eighth of an install's
            // time). The log stays bounded: by the largest commit plus the backstop.
            let _ = wake.try_send(());
            next_wake = (pages / CHECKPOINT_PAGES + 1) * CHECKPOINT_PAGES;
            backstop = pages + BACKSTOP_PAGES;
        } else if pages >= backstop {
            if let Err(err) = wal.checkpoint() {
                tracing::warn!(error = %err, pages, "checkpointing on the writer failed");
            }
            next_wake = CHECKPOINT_PAGES;
        } else if pages >= next_wake {
            // Full: one is already asked for.
            let _ = wake.try_send(());
            next_wake = (pages / CHECKPOINT_PAGES + 1) * CHECKPOINT_PAGES;
        }
        Ok(())
    }))?;
    Ok(std::thread::Builder::new()
        .name("sqlite-checkpointer".into())
        .spawn(move || {
            while woken.recv().is_ok() {
                let result = checkpoints.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                    Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                });
                match result {
                    Ok((log, copied)) => tracing::trace!(log, copied, "checkpoint"),
                    Err(err) => tracing::warn!(error = %err, "checkpoint failed"),
                }
            }
        })?)
}

fn writer_loop(
    conn: &Connection,
    clock: &HlcClock,
    labels: &DisplayCounters,
    mut queue: mpsc::UnboundedReceiver<Message>,
    done: std::sync::mpsc::Sender<Done>,
    stats: &WriterStats,
) {
    let mut stopping = false;
    while !stopping {
        let first = match queue.blocking_recv() {
            Some(Message::Write(job)) => job,
            Some(Message::Stop) | None => break,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Message::Write(job)) => batch.push(job),
                Ok(Message::Stop) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let commit = run_batch(conn, clock, labels, &mut batch);
        if let Err(reason) = &commit {
            tracing::error!(%reason, writes = batch.len(), "write batch failed; rolled back");
        }
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        stats
            .commit_micros_total
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        if done
            .send(Done {
                jobs: batch,
                commit,
            })
            .is_err()
        {
            tracing::error!("the flusher is gone; the writer stops");
            break;
        }
    }
    tracing::debug!("writer stopped");
}

/// Flushes the log after each commit, or once for all the commits made while the last flush
/// ran, then answers their callers and publishes their events, in commit order. A failed
/// flush fails every write it covered: they are committed, but the disk did not confirm them.
///
/// Before a flush it may wait a moment for more commits (PostgreSQL's `commit_delay`, made
/// adaptive). Without that, the clients answered by one flush send their next write just
/// after the next flush has started, so each of them waits for two flushes (with a 10 ms
/// fsync, 10 clients took 23 ms a write). So after answering a flush of more than one write,
/// the flusher waits until as many writes as it just answered are committed, or a quarter of
/// the last flush's duration has passed (at most [`MAX_COMMIT_DELAY`]), whichever is first:
/// 10 clients 407-421 → 568-665 writes/s, p50 23 → 14.5 ms. Waiting instead for those plus
/// everything committed meanwhile regrouped 50 clients too, but cost them 10 % (the CPU could
/// not send the answered clients' next writes inside the delay), so it is not done. With one
/// writer, or a disk whose flush takes microseconds, the wait is nil or as short.
fn flusher_loop(
    mut wal: WalFile,
    done: std::sync::mpsc::Receiver<Done>,
    events: broadcast::Sender<Committed>,
    stats: &WriterStats,
) {
    let mut wait_for = 0;
    let mut last_flush = Duration::ZERO;
    while let Ok(first) = done.recv() {
        let mut batches = vec![first];
        batches.extend(done.try_iter());
        let mut writes: usize = batches.iter().map(|b| b.jobs.len()).sum();
        let deadline = Instant::now() + (last_flush / 4).min(MAX_COMMIT_DELAY);
        while writes < wait_for {
            match done.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(next) => {
                    writes += next.jobs.len();
                    batches.push(next);
                }
                Err(_) => break,
            }
        }
        let flushed = if batches.iter().any(|b| b.commit.is_ok()) {
            let started = Instant::now();
            let synced = wal.sync().map_err(|e| {
                tracing::error!(error = %e, "flushing the write-ahead log failed");
                format!("the disk did not confirm the write: {e}")
            });
            last_flush = started.elapsed();
            stats.flushes.fetch_add(1, Ordering::Relaxed);
            synced
        } else {
            Ok(())
        };
        let mut answered = 0;
        for batch in batches {
            let outcome = batch.commit.and(flushed.clone());
            answered += batch.jobs.len();
            for job in batch.jobs {
                let changes = job.finish(&outcome);
                if !changes.is_empty() {
                    // No subscriber (nobody listening yet) is fine.
                    let _ = events.send(changes.into());
                }
            }
        }
        wait_for = if answered > 1 { answered } else { 0 };
    }
    tracing::debug!("flusher stopped");
}

fn run_batch(
    conn: &Connection,
    clock: &HlcClock,
    labels: &DisplayCounters,
    batch: &mut [Box<dyn Job>],
) -> Result<(), String> {
    // Cached statements: these run once or twice per write, and compiling them each time was
    // about 1 % of a create's instructions.
    let run = |sql: &str| conn.prepare_cached(sql)?.execute([]).map(drop);
    run("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
    if let [job] = batch {
        // A write alone in its transaction needs no savepoint: if it is refused, the whole
        // transaction is undone. Inside a savepoint SQLite keeps the old content of every page
        // the write changes in a sub-journal, which past 64 KiB goes to a temporary file: a
        // download's install (one write of thousands of rows) spent a fifth of its time
        // writing that file.
        let applied = if job.run(conn, clock, labels) {
            run("COMMIT")
        } else {
            run("ROLLBACK")
        };
        return applied.map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            e.to_string()
        });
    }
    let applied = (|| -> rusqlite::Result<()> {
        for job in batch.iter_mut() {
            run("SAVEPOINT write_job")?;
            if !job.run(conn, clock, labels) {
                run("ROLLBACK TO write_job")?;
            }
            run("RELEASE write_job")?;
        }
        run("COMMIT")
    })();
    applied.map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        e.to_string()
    })
}
