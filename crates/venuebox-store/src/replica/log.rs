//! The sync log: one row per push or pull round that did something or failed (the seed
//! app's `sync_log`), the newest [`SYNC_LOG_KEEP`] kept.
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::clock;
use crate::error::Result;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncLogEntry {
    pub id: i64,
    pub direction: String,
    pub started_at: String,
    pub completed_at: Option<String>,
    pub records: i64,
    pub conflicts: i64,
    pub error: Option<String>,
}

/// Rows kept in `sync_log`; older ones are dropped as new ones arrive.
const SYNC_LOG_KEEP: i64 = 1000;

pub fn log_round(
    conn: &Connection,
    direction: &str,
    started_at: &str,
    records: i64,
    conflicts: i64,
    error: Option<&str>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_log (direction, started_at, completed_at, records, conflicts, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        direction,
        started_at,
        error.is_none().then(clock::now_iso),
        records,
        conflicts,
        error
    ])?;
    conn.prepare_cached("DELETE FROM sync_log WHERE id <= (SELECT max(id) FROM sync_log) - ?1")?
        .execute([SYNC_LOG_KEEP])?;
    Ok(())
}

pub fn sync_log(conn: &Connection, limit: usize) -> Result<Vec<SyncLogEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, direction, started_at, completed_at, records, conflicts, error \
         FROM sync_log ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |row| {
        Ok(SyncLogEntry {
            id: row.get(0)?,
            direction: row.get(1)?,
            started_at: row.get(2)?,
            completed_at: row.get(3)?,
            records: row.get(4)?,
            conflicts: row.get(5)?,
            error: row.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl crate::Store {
    /// The newest sync rounds, newest first.
    pub async fn sync_log(&self, limit: usize) -> Result<Vec<SyncLogEntry>> {
        self.read(move |conn| sync_log(conn, limit)).await
    }

    /// Records a sync round (or its failure) in the sync log.
    pub async fn log_sync_round(
        &self,
        direction: &'static str,
        started_at: String,
        records: i64,
        conflicts: i64,
        error: Option<String>,
    ) -> Result<()> {
        self.write(move |tx| {
            log_round(
                tx.conn(),
                direction,
                &started_at,
                records,
                conflicts,
                error.as_deref(),
            )
        })
        .await
    }
}
