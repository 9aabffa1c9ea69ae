//! The pull: a page of the change log after the node's cursor, read by one statement (one
//! snapshot: because every writer of the log takes its lock, the snapshot is a prefix of the
//! log and the cursor can safely move to its head), returned as plain rows; and the purge of
//! old entries.
use serde_json::{Map, Value};
use venuebox_store::replica::{Anchor, PulledChange};

use super::HubSession;
use crate::error::{Result, SyncError};

/// Which productions a node pulls besides the global data.
#[derive(Debug, Clone)]
pub enum PullScope {
    All,
    Held(Vec<String>),
}

/// A page of the change log.
#[derive(Debug, Clone)]
pub struct PullPage {
    pub changes: Vec<PulledChange>,
    /// Where the node's cursor moves once it has applied `changes`.
    pub next_cursor: i64,
    /// The entry at `next_cursor`.
    pub anchor: Option<Anchor>,
    pub head_seq: i64,
}

/// One statement: the log's bounds (head, purge point, the origin of the entry at the head)
/// on every row, and the page (none: a single row of bounds).
const PAGE: &str = "WITH bounds AS (SELECT venuebox_head() AS head, \
    venuebox_meta('pruned_through_seq') AS pruned), \
    page AS (SELECT c.* FROM hub_changes c, bounds b WHERE c.seq > $1 AND c.seq <= b.head \
        AND ($2 OR c.scope IS NULL OR c.scope = ANY($3)) ORDER BY c.seq LIMIT $4) \
    SELECT b.head, b.pruned, h.origin_node, h.origin_seq, p.seq, p.op, p.kind, p.uuid, \
        p.production_id, p.data, p.clocks, p.origin_node, p.origin_seq, p.actor, p.conflicts, \
        p.resolved \
    FROM bounds b LEFT JOIN hub_changes h ON h.seq = b.head LEFT JOIN page p ON true \
    ORDER BY p.seq";

fn into_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl HubSession {
    /// The next page of the change log after `cursor`, for the given scope.
    pub async fn pull(
        &mut self,
        _node_id: &str,
        cursor: i64,
        scope: &PullScope,
        limit: i64,
    ) -> Result<PullPage> {
        let (all, held) = match scope {
            PullScope::All => (true, Vec::new()),
            PullScope::Held(list) => (false, list.clone()),
        };
        let rows = self
            .client
            .query(PAGE, &[&cursor, &all, &held, &limit])
            .await?;
        let first = rows
            .first()
            .ok_or_else(|| SyncError::Hub("the hub's pull returned nothing".into()))?;
        let head: i64 = first.get(0);
        let pruned: i64 = first.get(1);
        if cursor < pruned {
            return Err(SyncError::Stale {
                cursor,
                pruned_through: pruned,
            });
        }
        let head_anchor = first.get::<_, Option<String>>(2).map(|node| Anchor {
            origin_node: Some(node),
            origin_seq: first.get(3),
        });
        let mut changes = Vec::with_capacity(rows.len());
        let mut last_anchor = None;
        for row in &rows {
            let Some(seq) = row.get::<_, Option<i64>>(4) else {
                continue;
            };
            let conflicts: Value = row.get(14);
            let resolved: Option<Value> = row.get(15);
            last_anchor = Some(Anchor {
                origin_node: row.get(11),
                origin_seq: row.get(12),
            });
            changes.push(PulledChange {
                seq,
                op: row.get(5),
                kind: row.get(6),
                uuid: row.get(7),
                production_id: row.get(8),
                data: into_object(row.get(9)),
                clocks: into_object(row.get(10)),
                origin_node: row.get(11),
                origin_seq: row.get(12),
                actor: row.get(13),
                conflicts: serde_json::from_value(conflicts)
                    .map_err(|e| SyncError::Hub(format!("conflicts in the change log: {e}")))?,
                resolved: resolved.and_then(|r| {
                    Some((
                        r.get("id")?.as_i64()?,
                        r.get("resolution")?.as_str()?.to_owned(),
                    ))
                }),
            });
        }
        let (next_cursor, anchor) = if (changes.len() as i64) < limit {
            (head, head_anchor)
        } else {
            (changes.last().map(|c| c.seq).unwrap_or(head), last_anchor)
        };
        Ok(PullPage {
            changes,
            next_cursor,
            anchor,
            head_seq: head,
        })
    }

    /// Purges tombstones and change-log entries older than the hub's tombstone window.
    /// Returns the highest sequence purged so far.
    pub async fn prune(&mut self) -> Result<i64> {
        Ok(self
            .client
            .query_one("SELECT venuebox_prune()", &[])
            .await?
            .get(0))
    }
}
