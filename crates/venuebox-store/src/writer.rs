//! The one writer: a thread that owns the only read-write SQLite connection.
//!
//! Writes queue here, so concurrent requests never meet `SQLITE_BUSY`. Whatever is queued
//! while one commit is being flushed becomes the next batch: one `BEGIN IMMEDIATE`, a
//! `SAVEPOINT` per write (a refused write rolls back alone), one `COMMIT` — one fsync for the
//! whole batch (group commit). Each caller gets its answer, and the batch's change events are
//! published, only after that commit returned, i.e. after the data is on disk
//! (`journal_mode=WAL`, `synchronous=FULL`).
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::hlc::HlcClock;
use crate::model::ChangeEvent;

/// The changes of one committed write, published together once they are on disk.
pub type Committed = Arc<[ChangeEvent]>;
use crate::error::{Result, StoreError};

/// Most writes folded into one commit; bounds the latency one batch adds to its last write.
const MAX_BATCH: usize = 256;

/// The transaction a write runs in, and the events it will publish once committed.
pub struct WriteTx<'c> {
    conn: &'c Connection,
    events: Vec<ChangeEvent>,
    /// Stamps local changes for the outbox; absent while seeding (every node seeds the same
    /// rows, so seeding is not a change to sync).
    clock: Option<&'c HlcClock>,
}

impl<'c> WriteTx<'c> {
    pub fn conn(&self) -> &'c Connection {
        self.conn
    }
    pub fn clock(&self) -> Option<&'c HlcClock> {
        self.clock
    }
    pub fn emit(&mut self, event: ChangeEvent) {
        self.events.push(event);
    }
    /// A transaction outside the writer thread (start-up seeding); its events are dropped.
    pub(crate) fn detached(conn: &'c Connection) -> Self {
        WriteTx {
            conn,
            events: Vec::new(),
            clock: None,
        }
    }
}

trait Job: Send {
    /// Runs the write inside its savepoint; false when it was refused and must be undone.
    fn run(&mut self, conn: &Connection, clock: &HlcClock) -> bool;
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
    fn run(&mut self, conn: &Connection, clock: &HlcClock) -> bool {
        let op = self.op.take().expect("a job runs once");
        let mut tx = WriteTx {
            conn,
            events: Vec::new(),
            clock: Some(clock),
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
    pub fn spawn(
        conn: Connection,
        clock: Arc<HlcClock>,
        events: broadcast::Sender<Committed>,
    ) -> std::io::Result<(Writer, JoinHandle<()>)> {
        let (queue, jobs) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats::default());
        let thread_stats = stats.clone();
        let handle = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, &clock, jobs, events, &thread_stats))?;
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

fn writer_loop(
    conn: Connection,
    clock: &HlcClock,
    mut queue: mpsc::UnboundedReceiver<Message>,
    events: broadcast::Sender<Committed>,
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
        let commit = run_batch(&conn, clock, &mut batch);
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
        for job in batch {
            let changes = job.finish(&commit);
            if !changes.is_empty() {
                // No subscriber (nobody listening yet) is fine.
                let _ = events.send(changes.into());
            }
        }
    }
    tracing::debug!("writer stopped");
}

fn run_batch(
    conn: &Connection,
    clock: &HlcClock,
    batch: &mut [Box<dyn Job>],
) -> Result<(), String> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| e.to_string())?;
    let applied = (|| -> rusqlite::Result<()> {
        for job in batch.iter_mut() {
            conn.execute_batch("SAVEPOINT write_job")?;
            if job.run(conn, clock) {
                conn.execute_batch("RELEASE write_job")?;
            } else {
                conn.execute_batch("ROLLBACK TO write_job; RELEASE write_job")?;
            }
        }
        conn.execute_batch("COMMIT")
    })();
    applied.map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        e.to_string()
    })
}
