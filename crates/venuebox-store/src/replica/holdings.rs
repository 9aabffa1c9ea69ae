//! The productions this node holds: it pulls their rows (besides the global data), and
//! remembers their last download and whether it holds the hub's lock on them.
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::clock;
use crate::error::Result;

/// Marks a production as held: its rows are pulled even when the node pulls held scopes only.
pub fn hold(conn: &Connection, production_id: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_holdings (production_id, held_since) VALUES (?1, ?2) \
         ON CONFLICT (production_id) DO NOTHING",
    )?
    .execute(params![production_id, clock::now_iso()])?;
    Ok(())
}

pub fn holdings(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT production_id FROM sync_holdings ORDER BY 1")?;
    let rows = stmt.query_map([], |row| row.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Productions held here, with their last download and lock.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Holding {
    pub production_id: String,
    pub name: Option<String>,
    pub held_since: String,
    pub downloaded_at: Option<String>,
    pub locked_at: Option<String>,
}

pub fn holding_details(conn: &Connection) -> Result<Vec<Holding>> {
    let mut stmt = conn.prepare(
        "SELECT h.production_id, coalesce(json_extract(e.data, '$.show_name'), \
         json_extract(e.data, '$.name')), h.held_since, h.downloaded_at, h.locked_at \
         FROM sync_holdings h LEFT JOIN entities e ON e.uuid = h.production_id \
         ORDER BY h.held_since",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(Holding {
            production_id: row.get(0)?,
            name: row.get(1)?,
            held_since: row.get(2)?,
            downloaded_at: row.get(3)?,
            locked_at: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Records this box's lock on a production (or its release) as the hub confirmed it.
pub fn set_locked(conn: &Connection, production: &str, locked: bool) -> Result<()> {
    hold(conn, production)?;
    conn.prepare_cached(
        "UPDATE sync_holdings SET locked_at = CASE WHEN ?2 THEN ?3 ELSE NULL END \
         WHERE production_id = ?1",
    )?
    .execute(params![production, locked, clock::now_iso()])?;
    Ok(())
}

/// Notes that a download of `production` has just been installed.
pub(crate) fn mark_downloaded(conn: &Connection, production: &str) -> Result<()> {
    hold(conn, production)?;
    conn.prepare_cached("UPDATE sync_holdings SET downloaded_at = ?2 WHERE production_id = ?1")?
        .execute(params![production, clock::now_iso()])?;
    Ok(())
}

impl crate::Store {
    /// Records this box's lock on a production (or its release) as the hub confirmed it.
    pub async fn set_locked(&self, production: String, locked: bool) -> Result<()> {
        self.write(move |tx| set_locked(tx.conn(), &production, locked))
            .await
    }

    /// Holds a production: its rows are pulled from now on.
    pub async fn hold(&self, production: String) -> Result<()> {
        self.write(move |tx| hold(tx.conn(), &production)).await
    }

    pub async fn holding_details(&self) -> Result<Vec<Holding>> {
        self.read(holding_details).await
    }
}
