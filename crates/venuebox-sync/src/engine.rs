//! The node's sync loop: connect, say hello (epoch, sequence, clock skew), then push the
//! outbox and pull the log whenever something changes — a local write, a NOTIFY from the hub
//! on a dedicated LISTEN connection, the interval timer, or "sync now" — and reconnect with
//! backoff when the hub goes away. One task, one round at a time.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use venuebox_store::replica::{self, PushBatch, QueueStats};
use venuebox_store::{Store, clock};

use crate::error::{Result, SyncError};
use crate::hub::{HubSession, HubTarget, PullPage, PullScope};

/// Push batches start at this size and adapt to the link: each push call should take about
/// [`PUSH_CALL_TARGET`], so a fast link sends big batches and a slow one small ones.
const PUSH_BATCH_START: usize = 500;
const PUSH_BATCH_MIN: usize = 10;
const PUSH_BATCH_MAX: usize = 5000;
const PUSH_CALL_TARGET: Duration = Duration::from_secs(2);
/// Changes per pull page.
const PULL_PAGE: i64 = 1000;
/// One call to the hub (a push of `n` entries, a pull page, hello) that takes longer than
/// this is abandoned: the link is dead or far too slow. Whatever the hub did commits or rolls
/// back on its own; the retry is safe, and a push that timed out is retried with half the
/// batch, so a slow link always makes progress.
fn call_timeout(base: Duration, entries: usize) -> Duration {
    base + Duration::from_millis(20) * entries as u32
}
/// A round that takes longer than this is abandoned (each batch already pushed stays
/// acknowledged; the next round goes on from there).
const ROUND_TIMEOUT: Duration = Duration::from_secs(600);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// How often the tombstone window is enforced (by whichever node gets there).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Which productions this node pulls besides the global data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeMode {
    /// Every production (an office box or a cloud replica).
    All,
    /// Productions this node created or downloaded (a venue box).
    Held,
}

#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub hub: Option<HubTarget>,
    pub node_name: String,
    /// Poll at least this often even without NOTIFY (and retry this often at most when
    /// offline once the backoff has grown).
    pub interval: Duration,
    pub scope: ScopeMode,
    /// Where the snapshot taken before each download goes (none: no snapshot).
    pub backup_dir: Option<std::path::PathBuf>,
    /// The deadline of one call to the hub, before what its size adds (see [`call_timeout`]).
    pub call_timeout: Duration,
}

/// The base deadline of one call to the hub: long enough for a 4G uplink at 150 ms, short
/// enough that a dead link is given up on in seconds.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What the status page shows, besides the queue counts.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineState {
    pub configured: bool,
    pub online: bool,
    pub hub: Option<String>,
    pub last_push_at: Option<String>,
    pub last_pull_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub hub_seq: i64,
    pub last_error: Option<String>,
    pub last_error_code: Option<String>,
    /// Set when sync stopped for good (epoch change, stale box): the reason, in words.
    pub stopped: Option<String>,
    pub clock_skew_ms: Option<i64>,
    pub consecutive_failures: u32,
    pub failures_total: u64,
    /// The last (or running) pre-show download.
    pub download: Option<crate::progress::DownloadProgress>,
}

/// `GET /api/sync/status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    pub node_id: String,
    pub node_name: String,
    /// Counts the changes of the engine's state (a download's progress among them):
    /// `GET /api/sync/status?after=VERSION&waitMs=MS` answers once it has passed VERSION.
    pub version: u64,
    #[serde(flatten)]
    pub state: EngineState,
    #[serde(flatten)]
    pub queue: QueueStats,
    pub held_productions: Vec<String>,
    /// The held productions with their name, last download and lock.
    pub holdings: Vec<replica::Holding>,
}

/// The outcome of one round.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoundReport {
    pub pushed: usize,
    pub pulled: usize,
    pub conflicts: usize,
    pub hub_seq: i64,
}

type Waiter = oneshot::Sender<Result<RoundReport, String>>;

/// A handle to the running engine; cheap to clone.
#[derive(Clone)]
pub struct SyncEngine {
    pub(crate) store: Store,
    pub(crate) settings: Arc<SyncSettings>,
    pub(crate) downloading: Arc<std::sync::atomic::AtomicBool>,
    state: Arc<Mutex<EngineState>>,
    requests: mpsc::UnboundedSender<Waiter>,
    stop: watch::Sender<bool>,
    resume: Arc<tokio::sync::Notify>,
    /// Bumped by every change of `state`, so a client can wait for the next one.
    changes: watch::Sender<u64>,
    /// The current push batch size (see [`PUSH_CALL_TARGET`]).
    batch: Arc<std::sync::atomic::AtomicUsize>,
}

/// Runs one call to the hub with a deadline.
async fn within<T>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or(Err(SyncError::Timeout))
}

impl SyncEngine {
    /// Starts the engine task (idle when no hub is configured). Returns the handle and the
    /// task, which ends after [`SyncEngine::shutdown`].
    pub fn start(
        store: Store,
        settings: SyncSettings,
    ) -> (SyncEngine, tokio::task::JoinHandle<()>) {
        let (requests, request_rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let state = EngineState {
            configured: settings.hub.is_some(),
            hub: settings.hub.as_ref().map(HubTarget::describe),
            ..EngineState::default()
        };
        let engine = SyncEngine {
            store,
            settings: Arc::new(settings),
            state: Arc::new(Mutex::new(state)),
            requests,
            stop,
            resume: Arc::new(tokio::sync::Notify::new()),
            changes: watch::channel(0).0,
            downloading: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            batch: Arc::new(std::sync::atomic::AtomicUsize::new(PUSH_BATCH_START)),
        };
        let task = tokio::spawn(engine.clone().run(request_rx, stop_rx));
        (engine, task)
    }

    /// An engine without its task, driven by the caller (`handshake`, `push_all`,
    /// `pull_all`): tests and benchmarks that decide themselves when each node syncs.
    pub fn manual(store: Store, settings: SyncSettings) -> SyncEngine {
        let (requests, _) = mpsc::unbounded_channel();
        let (stop, _) = watch::channel(false);
        SyncEngine {
            store,
            state: Arc::new(Mutex::new(EngineState {
                configured: settings.hub.is_some(),
                hub: settings.hub.as_ref().map(HubTarget::describe),
                ..EngineState::default()
            })),
            settings: Arc::new(settings),
            requests,
            stop,
            resume: Arc::new(tokio::sync::Notify::new()),
            changes: watch::channel(0).0,
            downloading: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            batch: Arc::new(std::sync::atomic::AtomicUsize::new(PUSH_BATCH_START)),
        }
    }

    /// The push batch size the engine uses now (it adapts to the link).
    pub fn push_batch_size(&self) -> usize {
        self.batch.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    /// Shows a download as starting in the status before its task runs, so a client polling
    /// the status never mistakes the previous download's result for this one's.
    pub fn note_download_queued(&self, production: &str) {
        self.update(|s| {
            s.download = Some(crate::progress::DownloadProgress {
                production_id: production.to_owned(),
                phase: "starting".into(),
                started_at: clock::now_iso(),
                ..Default::default()
            })
        });
    }

    pub fn is_downloading(&self) -> bool {
        self.downloading.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn is_configured(&self) -> bool {
        self.settings.hub.is_some()
    }

    /// Starts over with a recreated or restored hub (after `HUB_EPOCH_CHANGED` or
    /// `HUB_RESTORED`): queues everything this box holds for it and resumes syncing. Returns
    /// the entries queued.
    pub async fn adopt_new_hub(&self) -> Result<usize> {
        let queued = self.store.adopt_new_hub().await?;
        self.update(|s| {
            s.stopped = None;
            s.consecutive_failures = 0;
        });
        self.resume.notify_one();
        tracing::warn!(
            queued,
            "adopting the hub as it is now; this box's data is queued for it"
        );
        Ok(queued)
    }

    /// Asks the engine to finish its round and stop.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    pub async fn status(&self) -> Result<SyncStatus> {
        let (queue, held, holdings) = self.store.replica_overview().await?;
        Ok(SyncStatus {
            version: *self.changes.borrow(),
            node_id: self.store.node_id().to_owned(),
            node_name: self.settings.node_name.clone(),
            state: self.state.lock().expect("sync state").clone(),
            queue,
            held_productions: held,
            holdings,
        })
    }

    pub fn state(&self) -> EngineState {
        self.state.lock().expect("sync state").clone()
    }

    /// Runs a round now (push then pull) and reports it.
    pub async fn sync_now(&self) -> Result<RoundReport> {
        if self.settings.hub.is_none() {
            return Err(SyncError::NotConfigured);
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(reply)
            .map_err(|_| SyncError::ShuttingDown)?;
        match answer.await {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(message)) => {
                let state = self.state();
                Err(match state.last_error_code.as_deref() {
                    Some("HUB_EPOCH_CHANGED") | Some("HUB_RESTORED") | Some("NODE_STALE") => {
                        SyncError::Hub(state.stopped.unwrap_or(message))
                    }
                    Some("HUB_ERROR") => SyncError::Hub(message),
                    _ => SyncError::Unreachable(message),
                })
            }
            Err(_) => Err(SyncError::ShuttingDown),
        }
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut EngineState)) {
        change(&mut self.state.lock().expect("sync state"));
        self.changes.send_modify(|version| *version += 1);
    }

    /// Returns once the state has changed since `version` (its [`SyncStatus::version`]), or
    /// after `wait`, or when the engine stops (the box's shutdown then does not wait for the
    /// answer): a client following a download learns of each step, and of the end, as it
    /// happens instead of on its next poll.
    pub async fn changed_since(&self, version: u64, wait: Duration) {
        let mut changes = self.changes.subscribe();
        if *changes.borrow_and_update() != version {
            return;
        }
        let mut stop = self.stop.subscribe();
        let _ = tokio::time::timeout(wait, async {
            tokio::select! {
                _ = changes.changed() => {}
                _ = stop.wait_for(|stopping| *stopping) => {}
            }
        })
        .await;
    }

    async fn run(
        self,
        mut requests: mpsc::UnboundedReceiver<Waiter>,
        mut stop: watch::Receiver<bool>,
    ) {
        let Some(target) = self.settings.hub.clone() else {
            // No hub: answer "sync now" requests until shutdown; the outbox keeps growing,
            // so a hub configured later receives everything.
            loop {
                tokio::select! {
                    Some(waiter) = requests.recv() => {
                        let _ = waiter.send(Err(SyncError::NotConfigured.to_string()));
                    }
                    _ = stop.changed() => return,
                }
            }
        };
        let mut writes = self.store.subscribe();
        let mut backoff = BACKOFF_MIN;
        let mut waiters: Vec<Waiter> = Vec::new();
        let mut last_prune: Option<std::time::Instant> = None;
        tracing::info!(hub = %target.describe(), "sync enabled");
        'connect: loop {
            if *stop.borrow() {
                break;
            }
            let session = tokio::time::timeout(ROUND_TIMEOUT, self.open_session(&target)).await;
            let (mut hub, mut notes, _listener) = match session {
                Ok(Ok(parts)) => parts,
                outcome => {
                    let err = match outcome {
                        Ok(Err(err)) => err,
                        _ => SyncError::Timeout,
                    };
                    match self.fail(err, &mut waiters, &mut requests, &mut stop).await {
                        AfterFailure::Retry => {}
                        AfterFailure::Resume => continue 'connect,
                        AfterFailure::Stop => break 'connect,
                    }
                    // Wait out the backoff; "sync now" cuts it short with a fresh attempt.
                    tokio::select! {
                        _ = tokio::time::sleep(jitter(backoff)) => {}
                        Some(waiter) = requests.recv() => waiters.push(waiter),
                        _ = stop.changed() => break 'connect,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue 'connect;
                }
            };
            backoff = BACKOFF_MIN;
            loop {
                let outcome = tokio::time::timeout(ROUND_TIMEOUT, self.round(&mut hub)).await;
                let outcome = outcome.unwrap_or(Err(SyncError::Timeout));
                match outcome {
                    Ok(report) => {
                        answer_all(&mut waiters, Ok(report));
                        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                            last_prune = Some(std::time::Instant::now());
                            if let Err(err) = hub.prune().await {
                                tracing::warn!(error = %err, "could not purge old tombstones");
                            }
                        }
                    }
                    Err(err) => {
                        match self.fail(err, &mut waiters, &mut requests, &mut stop).await {
                            AfterFailure::Retry | AfterFailure::Resume => continue 'connect,
                            AfterFailure::Stop => break 'connect,
                        }
                    }
                }
                // Wait for a reason to run again.
                let tick = tokio::time::sleep(self.settings.interval);
                tokio::pin!(tick);
                tokio::select! {
                    _ = &mut tick => {}
                    note = notes.recv() => {
                        if note.is_none() {
                            // The LISTEN connection died: reconnect everything.
                            self.update(|s| s.online = false);
                            continue 'connect;
                        }
                        // Several notifications in a burst make one round.
                        while notes.try_recv().is_ok() {}
                    }
                    event = writes.recv() => {
                        if let Err(tokio::sync::broadcast::error::RecvError::Closed) = event {
                            break 'connect;
                        }
                        // Let a burst of writes land in one push.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        while writes.try_recv().is_ok() {}
                    }
                    Some(waiter) = requests.recv() => waiters.push(waiter),
                    _ = stop.changed() => break 'connect,
                }
            }
        }
        answer_all(&mut waiters, Err(SyncError::ShuttingDown.to_string()));
        self.update(|s| s.online = false);
        tracing::info!("sync stopped");
    }

    /// After a fatal error: stay stopped, answering requests with the reason, until shutdown
    /// or a new hub is adopted.
    /// Returns true when asked to resume (a new hub was adopted), false on shutdown.
    /// Records a failed connect or round and answers everyone waiting on it. A fatal error
    /// (another hub, a node the hub has forgotten) parks sync until an operator resumes it.
    async fn fail(
        &self,
        err: SyncError,
        waiters: &mut Vec<Waiter>,
        requests: &mut mpsc::UnboundedReceiver<Waiter>,
        stop: &mut watch::Receiver<bool>,
    ) -> AfterFailure {
        self.note_failure(&err).await;
        answer_all(waiters, Err(err.to_string()));
        if !err.is_fatal() {
            AfterFailure::Retry
        } else if self.park(requests, stop).await {
            AfterFailure::Resume
        } else {
            AfterFailure::Stop
        }
    }

    async fn park(
        &self,
        requests: &mut mpsc::UnboundedReceiver<Waiter>,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        loop {
            tokio::select! {
                Some(waiter) = requests.recv() => {
                    let reason = self.state().stopped.unwrap_or_else(|| "sync is stopped".into());
                    let _ = waiter.send(Err(reason));
                }
                _ = self.resume.notified() => return true,
                _ = stop.changed() => return false,
            }
        }
    }

    async fn note_failure(&self, err: &SyncError) {
        let previous = self.state();
        let first = previous.consecutive_failures == 0;
        if first {
            // The first failure of a streak goes to the sync log; the retries that follow
            // would only flood it (they are counted in the status and metrics).
            let message = err.to_string();
            let started = previous
                .last_attempt_at
                .clone()
                .unwrap_or_else(clock::now_iso);
            let _ = self
                .store
                .log_sync_round("push", started, 0, 0, Some(message))
                .await;
        }
        if err.is_fatal() {
            tracing::error!(error = %err, "sync stopped");
        } else if first {
            tracing::warn!(error = %err, "sync failed; retrying with backoff (further failures are logged at debug level)");
        } else {
            tracing::debug!(error = %err, attempt = previous.consecutive_failures + 1, "sync still failing");
        }
        self.update(|s| {
            s.online = false;
            s.last_error = Some(err.to_string());
            s.last_error_code = Some(err.code().to_owned());
            s.consecutive_failures += 1;
            s.failures_total += 1;
            s.last_attempt_at = Some(clock::now_iso());
            if err.is_fatal() {
                s.stopped = Some(err.to_string());
            }
        });
    }

    async fn open_session(
        &self,
        target: &HubTarget,
    ) -> Result<(
        HubSession,
        mpsc::UnboundedReceiver<i64>,
        tokio_postgres::Client,
    )> {
        self.update(|s| s.last_attempt_at = Some(clock::now_iso()));
        let hub = within(
            call_timeout(self.settings.call_timeout, 0),
            target.connect(),
        )
        .await?;
        within(
            call_timeout(self.settings.call_timeout, 0),
            self.handshake(&hub),
        )
        .await?;
        let (listener, notes) =
            within(call_timeout(self.settings.call_timeout, 0), target.listen()).await?;
        Ok((hub, notes, listener))
    }

    /// Says hello to the hub: checks that it is the hub this box synced with (its epoch, and
    /// that it still holds what it acknowledged), registers this node, continues the outbox
    /// numbering after what the hub holds, and notes the clock skew.
    pub async fn handshake(&self, hub: &HubSession) -> Result<()> {
        let progress = self.store.hub_progress().await?;
        let hello = hub
            .hello(
                self.store.node_id(),
                &self.settings.node_name,
                self.store.clock().wall_ms(),
                &progress,
            )
            .await?;
        if let Some(known) = progress.epoch {
            if known != hello.epoch {
                return Err(SyncError::EpochMismatch {
                    expected: known,
                    found: hello.epoch,
                });
            }
            if let Some(reason) = hello.restored {
                return Err(SyncError::Restored { reason });
            }
        }
        let epoch = hello.epoch.clone();
        let hub_last = hello.last_seq;
        let window = hello.tombstone_window_secs;
        let accepted = self.store.accept_hub(epoch, hub_last, window).await?;
        if accepted.renumbered {
            tracing::info!(
                hub_last,
                "adopted the new hub: this box's data is queued for it"
            );
        }
        if accepted.advanced {
            tracing::warn!(
                hub_last,
                "the hub holds newer changes of this box than its database (restored from a backup?); numbering continues after them"
            );
        }
        if hello.clock_skew_ms.abs() > hello.max_clock_drift_ms {
            tracing::warn!(
                skew_ms = hello.clock_skew_ms,
                "this box's clock differs from the hub's by more than the drift allowance; \
                 its changes are stamped with the hub's time on arrival and conflicts it \
                 loses are kept in the conflict log"
            );
        }
        let was_offline = self.state().consecutive_failures;
        if was_offline > 0 {
            tracing::info!(failed_attempts = was_offline, "hub reachable again");
        }
        self.update(|s| {
            s.online = true;
            s.consecutive_failures = 0;
            s.last_error = None;
            s.last_error_code = None;
            s.clock_skew_ms = Some(hello.clock_skew_ms);
            s.hub_seq = hello.head_seq;
        });
        Ok(())
    }

    /// Push everything queued, then pull everything new.
    pub async fn round(&self, hub: &mut HubSession) -> Result<RoundReport> {
        let mut report = RoundReport::default();
        let pushed = self.push_all(hub).await?;
        report.pushed = pushed.0;
        report.conflicts += pushed.1;
        let pulled = self.pull_all(hub).await?;
        report.pulled = pulled.0;
        report.conflicts += pulled.1;
        report.hub_seq = pulled.2;
        self.update(|s| {
            s.online = true;
            s.hub_seq = report.hub_seq;
        });
        Ok(report)
    }

    /// Pushes the outbox in batches; returns (entries applied, conflicts). Each batch is one
    /// call; its size follows the link (about [`PUSH_CALL_TARGET`] per call), and a call that
    /// times out is retried by the next round with half the batch.
    pub async fn push_all(&self, hub: &mut HubSession) -> Result<(usize, usize)> {
        use std::sync::atomic::Ordering::Relaxed;
        let node_id = self.store.node_id().to_owned();
        let mut applied = 0;
        let mut conflicts = 0;
        let mut next = self
            .store
            .next_push_batch(0, self.batch.load(Relaxed))
            .await?;
        while let Some(PushBatch { batch, cursor }) = next.take() {
            let size = self.batch.load(Relaxed);
            let started = clock::now_iso();
            let timer = std::time::Instant::now();
            // The next batch is read from the outbox while the hub merges this one: the
            // node's read and the hub's work overlap instead of adding up. It is read at the
            // largest size this call can lead to, and read again if the call says smaller.
            let ahead_size = (size * 2).min(PUSH_BATCH_MAX);
            let (answer, read_ahead) = tokio::join!(
                within(
                    call_timeout(self.settings.call_timeout, batch.count),
                    hub.push(&node_id, cursor, &batch),
                ),
                self.store.next_push_batch(batch.last_seq, ahead_size)
            );
            let report = match answer {
                Ok(report) => report,
                Err(SyncError::Timeout) => {
                    self.batch
                        .store((batch.count / 2).max(PUSH_BATCH_MIN), Relaxed);
                    return Err(SyncError::Timeout);
                }
                Err(err) => return Err(err),
            };
            let resized = next_batch_size(size, batch.count, timer.elapsed());
            self.batch.store(resized, Relaxed);
            applied += report.applied;
            conflicts += report.conflicts;
            self.store
                .record_push(
                    report.acks.clone(),
                    started,
                    report.applied as i64,
                    report.conflicts as i64,
                )
                .await?;
            if report.acks.len() < batch.count {
                return Err(SyncError::Hub(format!(
                    "the hub acknowledged {} of {} entries",
                    report.acks.len(),
                    batch.count
                )));
            }
            self.update(|s| {
                s.last_push_at = Some(clock::now_iso());
                s.hub_seq = report.head_seq;
            });
            // Only now, with the hub's answer recorded: a failed read ahead must not leave
            // an applied batch unacknowledged on this node.
            next = match read_ahead? {
                // The link wants a smaller batch than was read: read again.
                Some(ahead) if ahead.batch.count > resized => {
                    self.store.next_push_batch(batch.last_seq, resized).await?
                }
                ahead => ahead,
            };
        }
        Ok((applied, conflicts))
    }

    /// Pulls until caught up; returns (changes applied, conflicts received, hub head). A page
    /// read from a cursor that another pull (a download's) has moved meanwhile is dropped and
    /// read again: the cursor never goes backwards. While a page applies, the next one is
    /// already being read (the hub's work and the transfer overlap this node's writes); it is
    /// used only if the cursor and the productions held are still what it was read for.
    pub async fn pull_all(&self, hub: &mut HubSession) -> Result<(usize, usize, i64)> {
        let node_id = self.store.node_id().to_owned();
        let timeout = call_timeout(self.settings.call_timeout, PULL_PAGE as usize / 4);
        let scope_of = |held: &[String]| match self.settings.scope {
            ScopeMode::All => PullScope::All,
            ScopeMode::Held => PullScope::Held(held.to_vec()),
        };
        let mut changes = 0;
        let mut conflicts = 0;
        // (cursor, productions held, page) read ahead while the previous page applied.
        let mut ahead: Option<(i64, Vec<String>, Result<PullPage>)> = None;
        loop {
            let (cursor, held) = self.store.pull_position().await?;
            let started = clock::now_iso();
            let page = match ahead.take() {
                Some((from, for_held, page)) if from == cursor && for_held == held => page?,
                _ => {
                    within(
                        timeout,
                        hub.pull(&node_id, cursor, &scope_of(&held), PULL_PAGE),
                    )
                    .await?
                }
            };
            let head = page.head_seq;
            let next = page.next_cursor;
            if next <= cursor && page.changes.is_empty() {
                self.update(|s| s.last_pull_at = Some(clock::now_iso()));
                return Ok((changes, conflicts, head));
            }
            let apply = self
                .store
                .apply_pull(cursor, page.changes, next, page.anchor, started);
            let applied = if next < head {
                let scope = scope_of(&held);
                let read_ahead = within(timeout, hub.pull(&node_id, next, &scope, PULL_PAGE));
                let (applied, page) = tokio::join!(apply, read_ahead);
                ahead = Some((next, held, page));
                applied?
            } else {
                apply.await?
            };
            let Some(applied) = applied else {
                continue;
            };
            changes += applied.changes;
            conflicts += applied.conflicts;
            self.update(|s| {
                s.last_pull_at = Some(clock::now_iso());
                s.hub_seq = head;
            });
            if next >= head {
                return Ok((changes, conflicts, head));
            }
        }
    }
}

/// The next push batch size after a call that sent `sent` entries (of `current` allowed) in
/// `took`: scaled so a call takes about [`PUSH_CALL_TARGET`], moving at most by half or
/// double at a time (one slow call on a shared link does not collapse it). A short batch
/// (the queue ran out) that went quickly says nothing about the link.
fn next_batch_size(current: usize, sent: usize, took: Duration) -> usize {
    if sent < current && took <= PUSH_CALL_TARGET {
        return current;
    }
    let took = took.as_secs_f64().max(0.001);
    let ideal = sent as f64 * PUSH_CALL_TARGET.as_secs_f64() / took;
    let bounded = ideal.clamp(current as f64 / 2.0, current as f64 * 2.0);
    (bounded as usize).clamp(PUSH_BATCH_MIN, PUSH_BATCH_MAX)
}

/// What the sync loop does after a failure.
enum AfterFailure {
    /// Try again after the backoff.
    Retry,
    /// An operator resumed a parked sync: reconnect now.
    Resume,
    /// Shutdown.
    Stop,
}

fn answer_all(waiters: &mut Vec<Waiter>, outcome: Result<RoundReport, String>) {
    for waiter in waiters.drain(..) {
        let _ = waiter.send(outcome.clone());
    }
}

/// ±20% so a room of boxes coming back online doesn't hit the hub in lockstep.
fn jitter(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let factor = 0.8 + f64::from(nanos % 1000) / 1000.0 * 0.4;
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_batches_follow_the_link() {
        // Fast loopback: grows, at most doubling, up to the ceiling.
        assert_eq!(next_batch_size(500, 500, Duration::from_millis(50)), 1000);
        assert_eq!(next_batch_size(5000, 5000, Duration::from_millis(50)), 5000);
        // A slow call shrinks it, at most halving.
        assert_eq!(next_batch_size(500, 500, Duration::from_secs(8)), 250);
        assert_eq!(next_batch_size(500, 500, Duration::from_secs(3)), 333);
        // A short batch that went fast keeps the size; a short one that was slow shrinks it.
        assert_eq!(next_batch_size(500, 3, Duration::from_millis(100)), 500);
        assert_eq!(next_batch_size(500, 400, Duration::from_secs(4)), 250);
        assert_eq!(
            next_batch_size(20, 20, Duration::from_secs(30)),
            PUSH_BATCH_MIN
        );
    }
}
