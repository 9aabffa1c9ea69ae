//! The running sync engine, replaceable while the box serves: the console (and the setup
//! wizard) can point the box at a hub, or at another one, and the next download uses it at
//! once, without a restart. Handlers ask the slot for the engine of the moment.
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use venuebox_store::Store;
use venuebox_sync::{HubTarget, SyncEngine, SyncError, SyncSettings};

pub struct SyncSlot {
    store: Store,
    running: RwLock<(SyncEngine, SyncSettings)>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// One replacement at a time.
    replacing: tokio::sync::Mutex<()>,
}

/// How long a replaced engine gets to finish its round before it is abandoned (a cut-off
/// round is safe to repeat).
const STOP_GRACE: Duration = Duration::from_secs(15);

impl SyncSlot {
    pub fn start(store: Store, settings: SyncSettings) -> SyncSlot {
        let (engine, task) = SyncEngine::start(store.clone(), settings.clone());
        SyncSlot {
            store,
            running: RwLock::new((engine, settings)),
            task: Mutex::new(Some(task)),
            replacing: tokio::sync::Mutex::new(()),
        }
    }

    /// The engine now running.
    pub fn engine(&self) -> SyncEngine {
        self.running.read().expect("sync slot").0.clone()
    }

    /// Stops the engine and starts one for `hub` (none: sync off). Refused while a download
    /// runs: it would be cut off half-installed for no reason the operator asked for.
    pub async fn replace_hub(&self, hub: Option<HubTarget>) -> Result<(), SyncError> {
        let _one = self.replacing.lock().await;
        let old = self.engine();
        if old.is_downloading() {
            let running = old
                .state()
                .download
                .map(|d| d.production_id)
                .unwrap_or_default();
            return Err(SyncError::Busy(running));
        }
        old.shutdown();
        let task = self.task.lock().expect("sync slot").take();
        if let Some(task) = task
            && tokio::time::timeout(STOP_GRACE, task).await.is_err()
        {
            tracing::warn!("the previous sync engine did not stop in time; its round is abandoned");
        }
        let mut settings = self.running.read().expect("sync slot").1.clone();
        settings.hub = hub;
        let (engine, task) = SyncEngine::start(self.store.clone(), settings.clone());
        *self.running.write().expect("sync slot") = (engine, settings);
        *self.task.lock().expect("sync slot") = Some(task);
        Ok(())
    }

    /// Asks the running engine to finish its round and stop.
    pub fn shutdown(&self) {
        self.engine().shutdown();
    }

    /// The running engine's task, for the caller that waits for it to end.
    pub fn take_task(&self) -> Option<tokio::task::JoinHandle<()>> {
        self.task.lock().expect("sync slot").take()
    }
}
