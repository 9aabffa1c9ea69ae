//! This node as a replica of the hub: its half of sync, all inside SQLite, so every piece
//! shares the write transaction of the change it is about. The hub half (PostgreSQL, where
//! the per-field merge runs) is the `venuebox-sync` crate.
//!
//! * [`outbox`]: every local change appends an entry, numbered by a gap-free node sequence,
//!   in the same transaction as the change; acknowledgements from the hub.
//! * [`pull`]: applying the hub's verdicts. A node *rebases* on the hub: for every field it
//!   takes the hub's merged value, except a field it changed and the hub has not answered for
//!   yet. Once the outbox is empty and the pull has caught up, the node holds the hub's state.
//! * [`tombstones`]: hard deletes kept for the tombstone window (re-creates say they saw the
//!   delete; a replaced hub is told about deletes too).
//! * [`conflicts`]: the conflict log as the hub decided it, and resolving a conflict.
//! * [`hub_state`]: which hub this node syncs with and how far: epoch, pull cursor and its
//!   anchor, the last acknowledged sequence; adopting a replaced hub.
//! * [`holdings`]: the productions this node holds (pulls), their download and lock.
//! * [`download`]: the pre-show download's staging and install.
//! * [`log`]: the sync log of rounds.
pub mod conflicts;
pub mod download;
pub mod holdings;
pub mod hub_state;
pub mod log;
pub mod outbox;
pub mod pull;
mod snapshot_row;
pub mod tombstones;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use crate::error::{Result, StoreError};

pub use conflicts::{ConflictRecord, conflicts};
pub use download::{DownloadState, Installed, StagedRow};
pub use holdings::{Holding, hold, holding_details, holdings, set_locked};
pub use hub_state::{Accepted, Anchor, HubProgress, adopt_new_hub, cursor, hub_epoch};
pub use log::{SyncLogEntry, log_round, sync_log};
pub use outbox::{
    LocalChange, OutboxBatch, OutboxEntry, OutboxOp, PushBatch, QueueStats, ack, queue_stats,
    record_local, unacked, unacked_batch,
};
pub use pull::{Applied, PulledChange, apply_changes, apply_pulled};

/// The pseudo-column that carries the archive flag of soft-deleted kinds through sync (and,
/// for a re-create, that the row lives again).
pub const DELETED_FIELD: &str = "_deleted";
/// The row's creation time, carried in the whole-row copy so every node lists rows in the
/// order they were made (lists sort by it), not in the order they arrived.
pub const CREATED_FIELD: &str = "_created_at";

pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

pub(crate) fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

pub(crate) fn meta_delete(conn: &Connection, key: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM meta WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}

pub(crate) fn parse_object(text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StoreError::Corrupt(
            "a sync document is not a JSON object".into(),
        )),
    }
}

/// A row's per-field clocks as this node holds them.
pub(crate) fn clocks_of(conn: &Connection, uuid: &str) -> Result<Map<String, Value>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT clocks FROM entities WHERE uuid = ?1")?
        .query_row([uuid], |row| row.get(0))
        .optional()?;
    Ok(text
        .and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok())
        .unwrap_or_default())
}
