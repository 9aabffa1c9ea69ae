//! What the pre-show download and the production lock need from the hub: the productions
//! it holds, a production's snapshot in chunks, its digest, and the lock.
use std::collections::HashMap;

use tokio_postgres::Client;

use venuebox_store::registry;

use super::HubSession;
use crate::error::{Result, SyncError};

/// A production on the hub, for `venuebox productions`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductionSummary {
    pub id: String,
    pub name: Option<String>,
    pub client: Option<String>,
    pub venue: Option<String>,
    pub load_in: Option<String>,
    /// Live rows in it, by kind.
    pub counts: HashMap<String, i64>,
    pub locked_by: Option<String>,
    pub locked_by_name: Option<String>,
    pub locked_at: Option<String>,
}

/// One row of a download snapshot. Its data and clocks stay the JSON text the hub sent: the
/// box stages them as they are and parses each once, when it installs them.
#[derive(Debug, Clone)]
pub struct SnapshotRow {
    pub uuid: String,
    pub kind: String,
    pub production_id: Option<String>,
    pub data: String,
    pub clocks: String,
}

/// What the hub holds for a production (and the global data), to verify a download.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeDigest {
    pub counts: std::collections::BTreeMap<String, i64>,
    /// SHA-256 over the sorted `uuid:kind` lines of every live row.
    pub checksum: String,
}

/// The rows a download takes: the production, its rows, and the global data (equipment
/// library, formats, settings). Production headers of other shows are not included. `$1` is
/// the production, `$2` the registry's production kind.
/// The name of the kind whose rows are productions (the hub has no registry of its own).
fn snapshot_row(row: &tokio_postgres::Row) -> SnapshotRow {
    SnapshotRow {
        uuid: row.get(0),
        kind: row.get(1),
        production_id: row.get(2),
        data: row.get(3),
        clocks: row.get(4),
    }
}

fn production_kind() -> &'static str {
    registry().production().name
}

impl HubSession {
    pub async fn productions(&self) -> Result<Vec<ProductionSummary>> {
        let rows = self
            .client
            .query(
                "SELECT e.uuid, coalesce(e.data->>'show_name', e.data->>'name'), e.data->>'client', e.data->>'venue', \
                 e.data->>'load_in', l.node_id, n.name, \
                 to_char(l.locked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                 FROM hub_entities e LEFT JOIN hub_locks l ON l.production_id = e.uuid \
                 LEFT JOIN hub_nodes n ON n.node_id = l.node_id \
                 WHERE e.kind = $1 AND e.deleted_hlc IS NULL \
                 ORDER BY e.data->>'load_in' NULLS LAST, e.data->>'show_name'",
                &[&production_kind()],
            )
            .await
            ?;
        let counts = self
            .client
            .query(
                "SELECT production_id, kind, count(*) FROM hub_entities \
                 WHERE deleted_hlc IS NULL AND production_id IS NOT NULL \
                 GROUP BY production_id, kind",
                &[],
            )
            .await?;
        let mut by_production: HashMap<String, HashMap<String, i64>> = HashMap::new();
        for row in &counts {
            by_production
                .entry(row.get(0))
                .or_default()
                .insert(row.get(1), row.get(2));
        }
        Ok(rows
            .iter()
            .map(|row| {
                let id: String = row.get(0);
                ProductionSummary {
                    counts: by_production.remove(&id).unwrap_or_default(),
                    id,
                    name: row.get(1),
                    client: row.get(2),
                    venue: row.get(3),
                    load_in: row.get(4),
                    locked_by: row.get(5),
                    locked_by_name: row.get(6),
                    locked_at: row.get(7),
                }
            })
            .collect())
    }

    /// Finds a production by id, or by name when exactly one live production has it.
    pub async fn find_production(&self, id_or_name: &str) -> Result<String> {
        let rows = self
            .client
            .query(
                "SELECT uuid FROM hub_entities WHERE kind = $2 AND deleted_hlc IS NULL \
                 AND (uuid = $1 OR lower(coalesce(data->>'show_name', data->>'name')) = lower($1)) \
                 ORDER BY uuid = $1 DESC",
                &[&id_or_name, &production_kind()],
            )
            .await?;
        match rows.as_slice() {
            [] => Err(SyncError::NotFound(format!(
                "no production {id_or_name:?} on the hub (`venuebox productions` lists them)"
            ))),
            [one] => Ok(one.get(0)),
            [first, ..] if first.get::<_, String>(0) == id_or_name => Ok(first.get(0)),
            many => Err(SyncError::NotFound(format!(
                "{} productions are called {id_or_name:?}; use the id",
                many.len()
            ))),
        }
    }

    /// The next chunk of a production's snapshot, in uuid order after `after`.
    pub async fn snapshot_chunk(
        &self,
        production: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<SnapshotRow>> {
        // One chunk costs its own size, not the production's (see migration V4).
        let sql = "SELECT uuid, kind, production_id, data, clocks \
                   FROM venuebox_snapshot_chunk($1, $2, $3, $4)";
        let rows = self
            .client
            .query(sql, &[&production, &production_kind(), &after, &limit])
            .await?;
        Ok(rows.iter().map(snapshot_row).collect())
    }

    /// Where the snapshot's chunks after `after` end — every `every`-th uuid, in uuid order —
    /// and how many rows it has after `after`, from one scan (migration V6). Each range between
    /// two bounds can then be read on its own ([`HubSession::snapshot_range`]), two at a time.
    pub async fn snapshot_plan(
        &self,
        production: &str,
        after: &str,
        every: i64,
    ) -> Result<(Vec<String>, i64)> {
        let sql = "SELECT uuid, n FROM venuebox_snapshot_plan($1, $2, $3, $4)";
        let rows = self
            .client
            .query(sql, &[&production, &production_kind(), &after, &every])
            .await?;
        let left = rows.last().map_or(0, |row| row.get::<_, i64>(1));
        let bounds = rows
            .iter()
            .filter(|row| row.get::<_, i64>(1) % every == 0)
            .map(|row| row.get(0))
            .collect();
        Ok((bounds, left))
    }

    /// The snapshot's rows in (`after`, `upto`], in uuid order.
    pub async fn snapshot_range(
        &self,
        production: &str,
        after: &str,
        upto: &str,
    ) -> Result<Vec<SnapshotRow>> {
        let sql = "SELECT uuid, kind, production_id, data, clocks \
                   FROM venuebox_snapshot_range($1, $2, $3, $4)";
        let rows = self
            .client
            .query(sql, &[&production, &production_kind(), &after, &upto])
            .await?;
        Ok(rows.iter().map(snapshot_row).collect())
    }

    /// Counts and checksum of the production's own rows (global data is checked by presence).
    pub async fn digest(&self, production: &str) -> Result<ScopeDigest> {
        const PRODUCTION_SCOPE: &str = "deleted_hlc IS NULL AND (uuid = $1 OR production_id = $1)";
        let sql = format!(
            "SELECT kind, count(*) FROM hub_entities WHERE {PRODUCTION_SCOPE} GROUP BY kind"
        );
        let rows = self.client.query(&sql, &[&production]).await?;
        let sql = format!(
            "SELECT encode(sha256(convert_to(coalesce(string_agg(uuid || ':' || kind, E'\\n' \
             ORDER BY uuid COLLATE \"C\"), ''), 'UTF8')), 'hex') FROM hub_entities \
             WHERE {PRODUCTION_SCOPE}"
        );
        let checksum: String = self.client.query_one(&sql, &[&production]).await?.get(0);
        Ok(ScopeDigest {
            counts: rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
            checksum,
        })
    }

    /// Records that `node_id` holds the production for a show. Another node's lock is refused.
    pub async fn lock(&self, production: &str, node_id: &str) -> Result<()> {
        let holder: String = self
            .client
            .query_one(
                "INSERT INTO hub_locks (production_id, node_id) VALUES ($1, $2) \
                 ON CONFLICT (production_id) DO UPDATE SET production_id = excluded.production_id \
                 RETURNING node_id",
                &[&production, &node_id],
            )
            .await?
            .get(0);
        if holder != node_id {
            let name: Option<String> = self
                .client
                .query_opt("SELECT name FROM hub_nodes WHERE node_id = $1", &[&holder])
                .await?
                .and_then(|row| row.get(0));
            return Err(SyncError::Locked(format!(
                "production {production} is locked by {} ({holder})",
                name.unwrap_or_else(|| "another box".into())
            )));
        }
        Ok(())
    }

    /// Releases this node's lock (a lock of another node stays).
    pub async fn unlock(&self, production: &str, node_id: &str) -> Result<bool> {
        Ok(self
            .client
            .execute(
                "DELETE FROM hub_locks WHERE production_id = $1 AND node_id = $2",
                &[&production, &node_id],
            )
            .await?
            > 0)
    }
}

/// Counts for `venuebox status` and tests: live rows per kind on the hub.
pub async fn live_counts(client: &Client) -> Result<HashMap<String, i64>> {
    let rows = client
        .query(
            "SELECT kind, count(*) FROM hub_entities WHERE deleted_hlc IS NULL GROUP BY kind",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
