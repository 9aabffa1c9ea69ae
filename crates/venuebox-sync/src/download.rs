//! The pre-show download: a whole production (and the global data) from the hub onto this box.
//!
//! 1. Note the hub's head sequence `S`, then read the snapshot in uuid-ordered chunks into
//!    `download_staging`, recording progress with every chunk (an interrupted download
//!    continues after the last staged uuid, at the same `S`).
//! 2. Install the staged rows in one transaction: the production appears, or is refreshed,
//!    all at once, keeping fields this box changed and has not pushed yet.
//! 3. Catch up from `S`: if this box had already pulled past `S`, the production's own log
//!    entries since `S` are applied (without moving the cursor); then push and pull as usual.
//!    Rows read after `S` may already be newer than `S`; replaying the log from `S` only ever
//!    moves a field to a value the hub had later, so the end state is the hub's.
//! 4. Verify counts by kind and a checksum of the production's rows against the hub.
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use sha2::{Digest, Sha256};
use venuebox_store::clock;
use venuebox_store::replica::StagedRow;

use crate::engine::SyncEngine;
use crate::error::{Result, SyncError};
use crate::hub::{HubSession, PullScope, ScopeDigest};
use crate::progress::{DownloadProgress, DownloadReport};

/// Rows per chunk: each is one hub query and one local transaction.
const CHUNK: i64 = 1000;
const CATCH_UP_PAGE: i64 = 1000;

/// The local side of a digest, computed the way the hub computes its own: counts by kind,
/// and SHA-256 over the `uuid:kind` lines in bytewise uuid order. Fed one row at a time.
#[derive(Default)]
pub struct Digester {
    counts: BTreeMap<String, i64>,
    hasher: Sha256,
    rows: usize,
}

impl Digester {
    /// Adds the next row (rows must come in bytewise uuid order).
    pub fn add(&mut self, uuid: &str, kind: &str) {
        if self.rows > 0 {
            self.hasher.update(b"\n");
        }
        self.rows += 1;
        self.hasher.update(uuid.as_bytes());
        self.hasher.update(b":");
        self.hasher.update(kind.as_bytes());
        *self.counts.entry(kind.to_owned()).or_insert(0) += 1;
    }

    pub fn finish(self) -> ScopeDigest {
        let checksum = hex::encode(self.hasher.finalize());
        ScopeDigest {
            counts: self.counts,
            checksum,
        }
    }
}

/// Awaits `work`, adding the time it took to `busy`.
async fn timed<T>(busy: &mut Duration, work: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let outcome = work.await;
    *busy += started.elapsed();
    outcome
}

/// The hub's rows taken apart for staging.
fn to_staged(rows: Vec<crate::hub::SnapshotRow>) -> Vec<StagedRow> {
    rows.into_iter()
        .map(|row| StagedRow::from_hub(row.uuid, row.kind, row.production_id, row.data, row.clocks))
        .collect()
}

impl SyncEngine {
    /// Downloads a production (by id or name) and the global data; `lock` then records on the
    /// hub that this box holds it. Progress goes to the status as it runs.
    pub async fn download(&self, production: &str, lock: bool) -> Result<DownloadReport> {
        if self
            .downloading
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let running = self
                .state()
                .download
                .map(|d| d.production_id)
                .unwrap_or_default();
            return Err(SyncError::Busy(running));
        }
        let outcome = self.download_inner(production, lock).await;
        self.downloading
            .store(false, std::sync::atomic::Ordering::SeqCst);
        if let Err(err) = &outcome {
            let message = err.to_string();
            self.update(|s| {
                if let Some(progress) = &mut s.download {
                    progress.phase = "failed".into();
                    progress.error = Some(message);
                    progress.finished_at = Some(clock::now_iso());
                }
            });
        }
        outcome
    }

    async fn download_inner(&self, wanted: &str, lock: bool) -> Result<DownloadReport> {
        let target = self.settings.hub.clone().ok_or(SyncError::NotConfigured)?;
        let started = Instant::now();
        let mut hub = target.connect().await?;
        self.handshake(&hub).await?;
        let production = hub.find_production(wanted).await?;
        let store = self.store.clone();
        let previous = store.download_state().await?;
        let resumed = previous
            .as_ref()
            .is_some_and(|state| state.production_id == production);
        // A snapshot before anything is written: the way back if the download is not wanted.
        // It is taken while the hub answers the first questions (nothing is written here
        // until both are done).
        let backup = async {
            match (&self.settings.backup_dir, resumed) {
                (Some(dir), false) => Ok(Some(store.backup_to(dir.clone()).await?.file)),
                _ => Ok::<_, SyncError>(None),
            }
        };
        // The hub's head now is where a new download's snapshot starts (a resumed one keeps
        // its own).
        let (backup, head) = tokio::join!(backup, hub.head());
        let (backup, head) = (backup?, head?);
        let state = match previous {
            Some(state) if resumed => state,
            _ => store.begin_download(production.clone(), head).await?,
        };
        let at_seq = state.at_seq;
        let after = state.after.clone();
        let mut staged = state.staged;
        let resumed_from = staged;
        let started_at = clock::now_iso();
        // Known once the hub says where the chunks end (the same scan counts the rows).
        let total = std::sync::atomic::AtomicI64::new(0);
        let progress = |staged: i64, phase: &str| DownloadProgress {
            production_id: production.clone(),
            phase: phase.into(),
            staged,
            total: total.load(std::sync::atomic::Ordering::Relaxed).max(staged),
            started_at: started_at.clone(),
            finished_at: None,
            rows_per_second: (staged - resumed_from) as f64
                / started.elapsed().as_secs_f64().max(0.001),
            resumed,
            error: None,
            report: None,
        };
        self.update(|s| s.download = Some(progress(staged, "staging")));
        if resumed {
            tracing::info!(%production, staged, "resuming the download");
        } else {
            tracing::info!(%production, at_seq, "downloading");
        }
        let prepared_in = started.elapsed();
        // The chunks' ends first (and a second connection meanwhile): then the ranges between
        // them are read two at a time, one per connection, while the writer stages the one
        // before, in order (the progress kept is the last uuid staged). What lies after the
        // last end is read chunk by chunk after it. With no second connection both ranges go
        // to the first; its round trips still overlap.
        let (mut stage_busy, mut hub_wait) = (Duration::ZERO, Duration::ZERO);
        let (plan, second) = timed(&mut hub_wait, async {
            tokio::join!(
                hub.snapshot_plan(&production, &after, CHUNK),
                target.connect()
            )
        })
        .await;
        let (bounds, left) = plan?;
        total.store(staged + left, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(%production, total = staged + left, "the snapshot's rows");
        let second = second
            .inspect_err(|err| {
                tracing::warn!(error = %err, "a second hub connection for the download failed")
            })
            .ok();
        let lanes = [&hub, second.as_ref().unwrap_or(&hub)];
        let tail_after = bounds.last().cloned().unwrap_or_else(|| after.clone());
        let mut ranges = std::iter::once(after.clone())
            .chain(bounds.iter().cloned())
            .zip(bounds.iter().cloned())
            .enumerate();
        let read = |lane: usize, from: String, upto: String| {
            let (session, production) = (lanes[lane % 2], &production);
            async move {
                // Taken apart here, beside the writer staging the chunk before.
                Ok::<_, SyncError>(to_staged(
                    session.snapshot_range(production, &from, &upto).await?,
                ))
            }
        };
        let mut reads = FuturesOrdered::new();
        let mut arrived = VecDeque::new();
        for (lane, (from, upto)) in ranges.by_ref().take(2) {
            reads.push_back(read(lane, from, upto));
        }
        loop {
            let chunk = match arrived.pop_front() {
                Some(chunk) => chunk,
                None => match timed(&mut hub_wait, reads.next()).await {
                    Some(chunk) => chunk,
                    None => break,
                },
            }?;
            if let Some((lane, (from, upto))) = ranges.next() {
                reads.push_back(read(lane, from, upto));
            }
            let stage = timed(&mut stage_busy, store.stage_download(chunk));
            tokio::pin!(stage);
            // The reads in flight go on while the chunk is staged.
            let state = loop {
                tokio::select! {
                    biased;
                    state = &mut stage => break state,
                    Some(chunk) = reads.next(), if !reads.is_empty() => arrived.push_back(chunk),
                }
            };
            staged = state?.staged;
            self.update(|s| s.download = Some(progress(staged, "staging")));
        }
        drop(reads);
        drop(second);
        // After the last end: rows after it, a chunk at a time (usually one short chunk),
        // each staged while the next is read.
        let mut chunk = timed(
            &mut hub_wait,
            hub.snapshot_chunk(&production, &tail_after, CHUNK),
        )
        .await?;
        while let Some(last) = chunk.last() {
            let next_after = last.uuid.clone();
            let (state, next) = tokio::join!(
                timed(&mut stage_busy, store.stage_download(to_staged(chunk))),
                timed(
                    &mut hub_wait,
                    hub.snapshot_chunk(&production, &next_after, CHUNK)
                )
            );
            staged = state?.staged;
            self.update(|s| s.download = Some(progress(staged, "staging")));
            chunk = next?;
        }
        let staged_in = started.elapsed();
        self.update(|s| s.download = Some(progress(staged, "installing")));
        let anchor = hub.anchor_at(at_seq).await?;
        let (installed, from_snapshot) = store
            .install_download(production.clone(), at_seq, anchor)
            .await?;
        let installed_in = started.elapsed() - staged_in;
        if from_snapshot {
            tracing::info!(%production, at_seq, "this box holds only this production: it pulls on from the snapshot's sequence");
        } else {
            self.catch_up(&mut hub, &production, at_seq).await?;
        }
        self.push_all(&mut hub).await?;
        self.pull_all(&mut hub).await?;
        let synced_in = started.elapsed() - staged_in - installed_in;
        self.update(|s| s.download = Some(progress(staged, "verifying")));
        let digest = self.verify(&mut hub, &production).await?;
        // Where a download's time goes, for whoever tunes it (the bench reads these lines).
        tracing::info!(
            %production,
            prepared_ms = prepared_in.as_millis() as u64,
            staged_ms = (staged_in - prepared_in).as_millis() as u64,
            hub_wait_ms = hub_wait.as_millis() as u64,
            stage_write_ms = stage_busy.as_millis() as u64,
            installed_ms = installed_in.as_millis() as u64,
            synced_ms = synced_in.as_millis() as u64,
            verified_ms = (started.elapsed() - staged_in - installed_in - synced_in).as_millis() as u64,
            "download phases"
        );
        if lock {
            hub.lock(&production, self.store.node_id()).await?;
            store.set_locked(production.clone(), true).await?;
        }
        let name = store
            .holding_details()
            .await?
            .into_iter()
            .find(|h| h.production_id == production)
            .and_then(|h| h.name);
        let seconds = started.elapsed().as_secs_f64();
        let report = DownloadReport {
            production_id: production.clone(),
            name,
            rows: staged,
            by_kind: digest.counts.clone(),
            checksum: digest.checksum,
            seconds,
            rows_per_second: (staged - resumed_from) as f64 / seconds.max(0.001),
            hub_seq: hub.head().await?,
            kept_local_fields: installed.kept_local_fields,
            removed: installed.removed,
            locked: lock,
            backup,
        };
        let finished = report.clone();
        self.update(|s| {
            let mut done = progress(staged, "done");
            done.finished_at = Some(clock::now_iso());
            done.report = Some(finished);
            s.download = Some(done);
        });
        tracing::info!(
            production = %report.production_id,
            rows = report.rows,
            seconds = report.seconds,
            "download complete and verified"
        );
        Ok(report)
    }

    /// Applies the production's log entries after the snapshot's sequence up to this box's
    /// cursor (which other pulls already passed while the production was not held here).
    async fn catch_up(&self, hub: &mut HubSession, production: &str, at_seq: i64) -> Result<()> {
        let cursor = self.store.sync_cursor().await?;
        let mut from = at_seq;
        let scope = PullScope::Held(vec![production.to_owned()]);
        while from < cursor {
            let page = hub
                .pull(self.store.node_id(), from, &scope, CATCH_UP_PAGE)
                .await?;
            let next = page.next_cursor.min(cursor);
            let changes: Vec<_> = page
                .changes
                .into_iter()
                .filter(|c| c.seq <= cursor)
                .collect();
            self.store.apply_hub_changes(changes).await?;
            if next <= from {
                break;
            }
            from = next;
        }
        Ok(())
    }

    /// Compares the production's rows here with the hub's; one more pull and retry if someone
    /// changed it in between.
    async fn verify(&self, hub: &mut HubSession, production: &str) -> Result<ScopeDigest> {
        for attempt in 0..3 {
            // The hub's digest and this box's are computed at the same time.
            let (hub_digest, ours) = tokio::join!(
                hub.digest(production),
                self.store.fold_production_rows(
                    production.to_owned(),
                    Digester::default(),
                    |digester, uuid, kind| digester.add(uuid, kind),
                )
            );
            let (hub_digest, ours) = (hub_digest?, ours?.finish());
            if ours == hub_digest {
                return Ok(ours);
            }
            if attempt == 2 {
                return Err(SyncError::Mismatch(format!(
                    "the hub has {:?} (checksum {}), this box {:?} (checksum {})",
                    hub_digest.counts, hub_digest.checksum, ours.counts, ours.checksum
                )));
            }
            self.push_all(hub).await?;
            self.pull_all(hub).await?;
        }
        unreachable!("the loop returns")
    }

    /// Locks or unlocks a production on the hub for this box.
    pub async fn set_lock(&self, production: &str, locked: bool) -> Result<String> {
        let target = self.settings.hub.clone().ok_or(SyncError::NotConfigured)?;
        let hub = target.connect().await?;
        self.handshake(&hub).await?;
        let production = hub.find_production(production).await?;
        if locked {
            hub.lock(&production, self.store.node_id()).await?;
        } else {
            hub.unlock(&production, self.store.node_id()).await?;
        }
        self.store.set_locked(production.clone(), locked).await?;
        Ok(production)
    }

    /// The productions on the hub.
    pub async fn hub_productions(&self) -> Result<Vec<crate::hub::ProductionSummary>> {
        let target = self.settings.hub.clone().ok_or(SyncError::NotConfigured)?;
        target.connect().await?.productions().await
    }
}
