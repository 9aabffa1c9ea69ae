//! Hard deletes this node made or pulled, kept as long as the hub keeps its own tombstones.
//!
//! A row created again under an id that was deleted (a settings key, a production's id) tells
//! the hub it saw the delete, so the re-create wins over the tombstone instead of being
//! refused; and a box restating its data to a replaced hub restates its deletes from here.
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::parse_object;
use crate::clock;
use crate::codec;
use crate::error::Result;

/// Remembers that `uuid` was deleted with `clock`, having seen `seen` (its fields' clocks).
pub(crate) fn record(
    conn: &Connection,
    kind: &str,
    uuid: &str,
    production_id: Option<&str>,
    clock: &str,
    seen: &Map<String, Value>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_tombstones (uuid, kind, production_id, clock, seen, deleted_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (uuid) DO UPDATE SET \
         clock = excluded.clock, seen = CASE WHEN excluded.seen = '{}' THEN \
         sync_tombstones.seen ELSE excluded.seen END",
    )?
    .execute(params![
        uuid,
        kind,
        production_id,
        clock,
        codec::json_text(seen),
        clock::now_iso()
    ])?;
    Ok(())
}

/// The tombstone's clock if `uuid` was deleted, forgetting it (the row lives again).
pub(crate) fn take(conn: &Connection, uuid: &str) -> Result<Option<String>> {
    let clock: Option<String> = conn
        .prepare_cached("SELECT clock FROM sync_tombstones WHERE uuid = ?1")?
        .query_row([uuid], |row| row.get(0))
        .optional()?;
    if clock.is_some() {
        forget(conn, uuid)?;
    }
    Ok(clock)
}

pub(crate) fn forget(conn: &Connection, uuid: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM sync_tombstones WHERE uuid = ?1")?
        .execute([uuid])?;
    Ok(())
}

/// Drops tombstones older than the hub's window (the hub has forgotten them too).
pub fn prune(conn: &Connection, window_secs: i64) -> Result<usize> {
    let cutoff = clock::format_iso(clock::now() - time::Duration::seconds(window_secs.max(0)));
    Ok(conn
        .prepare_cached("DELETE FROM sync_tombstones WHERE deleted_at < ?1")?
        .execute([cutoff])?)
}

/// One remembered delete.
pub(crate) struct Tombstone {
    pub uuid: String,
    pub kind: String,
    pub production_id: Option<String>,
    pub clock: String,
    pub seen: Map<String, Value>,
}

/// Tombstones after `after` (by uuid), `limit` at a time.
pub(crate) fn page(conn: &Connection, after: &str, limit: usize) -> Result<Vec<Tombstone>> {
    let mut stmt = conn.prepare_cached(
        "SELECT uuid, kind, production_id, clock, seen FROM sync_tombstones WHERE uuid > ?1 \
         ORDER BY uuid LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit as i64], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Option<String>>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
        ))
    })?;
    let mut list = Vec::new();
    for row in rows {
        let (uuid, kind, production_id, clock, seen) = row?;
        list.push(Tombstone {
            uuid,
            kind,
            production_id,
            clock,
            seen: parse_object(&seen)?,
        });
    }
    Ok(list)
}
