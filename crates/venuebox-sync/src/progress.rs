//! What a pre-show download shows while it runs and when it is done: in the engine's status
//! (`GET /api/sync/status`) and in the CLI's summary.
use std::collections::BTreeMap;

use serde::Serialize;

/// What a download shows while it runs (in `GET /api/sync/status`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadProgress {
    pub production_id: String,
    /// `staging`, `installing`, `verifying`, `done` or `failed`.
    pub phase: String,
    pub staged: i64,
    pub total: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub rows_per_second: f64,
    pub resumed: bool,
    pub error: Option<String>,
    pub report: Option<DownloadReport>,
}

/// The summary at the end.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadReport {
    pub production_id: String,
    pub name: Option<String>,
    pub rows: i64,
    pub by_kind: BTreeMap<String, i64>,
    pub checksum: String,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub hub_seq: i64,
    pub kept_local_fields: i64,
    pub removed: i64,
    pub locked: bool,
    pub backup: Option<String>,
}
