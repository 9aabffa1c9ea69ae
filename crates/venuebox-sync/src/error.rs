use venuebox_store::StoreError;

/// Why a sync round did not complete. `Unreachable`, `Hub` and `Timeout` are retried with
/// backoff; `EpochMismatch`, `Restored` and `Stale` stop sync until a person acts.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no hub is configured (set hub.url or VENUEBOX_HUB_URL)")]
    NotConfigured,
    #[error("hub configuration: {0}")]
    Config(String),
    #[error("the hub is unreachable: {0}")]
    Unreachable(String),
    #[error("the hub refused or failed: {0}")]
    Hub(String),
    #[error(
        "the hub was recreated or restored (its epoch is {found}, this box synced with \
         {expected}); sync is stopped so nothing diverges. Check the hub, then accept it with \
         `venuebox sync --adopt-hub` (POST /api/sync/adopt-hub), which sends it everything \
         this box holds"
    )]
    EpochMismatch { expected: String, found: String },
    #[error(
        "the hub has lost changes it had acknowledged: {reason}. It was restored from a backup \
         or dump. Sync is stopped so nothing diverges, and this box keeps its queue. Check the \
         hub, then accept it with `venuebox sync --adopt-hub` (POST /api/sync/adopt-hub), \
         which sends it everything this box holds"
    )]
    Restored { reason: String },
    #[error(
        "this box last pulled at hub sequence {cursor}, but the hub has purged its log through \
         {pruned_through} (the tombstone window); download the productions again before syncing"
    )]
    Stale { cursor: i64, pruned_through: i64 },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Locked(String),
    #[error("a download is already running ({0})")]
    Busy(String),
    #[error("the download does not match the hub: {0}")]
    Mismatch(String),
    #[error("a sync round took too long and was abandoned")]
    Timeout,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sync is shutting down")]
    ShuttingDown,
}

impl SyncError {
    pub(crate) fn unreachable(err: tokio_postgres::Error) -> SyncError {
        SyncError::Unreachable(error_text(&err))
    }

    /// Sync cannot go on without a person (the hub was replaced, or this box is too old).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            SyncError::EpochMismatch { .. }
                | SyncError::Restored { .. }
                | SyncError::Stale { .. }
                | SyncError::Config(_)
        )
    }

    /// A stable code for the API and the status page.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::NotConfigured => "SYNC_NOT_CONFIGURED",
            SyncError::Config(_) => "SYNC_CONFIG",
            SyncError::Unreachable(_) | SyncError::Timeout => "HUB_UNREACHABLE",
            SyncError::Hub(_) => "HUB_ERROR",
            SyncError::EpochMismatch { .. } => "HUB_EPOCH_CHANGED",
            SyncError::Restored { .. } => "HUB_RESTORED",
            SyncError::Stale { .. } => "NODE_STALE",
            SyncError::Store(_) => "LOCAL_STORE",
            SyncError::ShuttingDown => "SHUTTING_DOWN",
            SyncError::NotFound(_) => "NOT_FOUND",
            SyncError::Locked(_) => "PRODUCTION_LOCKED",
            SyncError::Busy(_) => "DOWNLOAD_RUNNING",
            SyncError::Mismatch(_) => "DOWNLOAD_MISMATCH",
        }
    }
}

/// A hub error: a lost connection is `Unreachable` (retried); the hub's own refusals keep
/// their meaning (`VB001` stale node, raised by the push and pull functions).
impl From<tokio_postgres::Error> for SyncError {
    fn from(err: tokio_postgres::Error) -> SyncError {
        let Some(db) = err.as_db_error().filter(|_| !err.is_closed()) else {
            return SyncError::Unreachable(error_text(&err));
        };
        if db.code().code() == "VB001" {
            let detail: serde_json::Value = db
                .detail()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or_default();
            return SyncError::Stale {
                cursor: detail["cursor"].as_i64().unwrap_or_default(),
                pruned_through: detail["prunedThrough"].as_i64().unwrap_or_default(),
            };
        }
        SyncError::Hub(error_text(&err))
    }
}

/// The error and its causes in one line (tokio-postgres puts the useful part in the source).
/// Connection errors never contain the password: tokio-postgres does not echo its config.
fn error_text(err: &tokio_postgres::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

pub type Result<T, E = SyncError> = std::result::Result<T, E>;
