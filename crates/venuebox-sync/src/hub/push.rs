//! The push: a batch of one node's outbox sent whole, as one JSON parameter of one call,
//! `venuebox_push`, which merges it on the hub under the change log's lock and commits. One
//! round trip per batch whatever its size, and nothing held between round trips: a node whose
//! link dies mid-push holds up no other node.
use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use venuebox_store::registry;
use venuebox_store::registry::Scope;
use venuebox_store::replica::OutboxBatch;

use super::HubSession;
use crate::error::{Result, SyncError};

/// What a push did.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushReport {
    /// (node_seq, hub seq) of every entry of the batch the hub holds, new or from before.
    pub acks: Vec<(i64, i64)>,
    pub applied: usize,
    pub conflicts: usize,
    pub head_seq: i64,
}

/// The facts of a kind the hub's merge needs from the registry (the hub has none).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KindFacts {
    /// Its rows are productions (a row's uuid is its own production).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    header: bool,
    /// The prefix of generated display ids (`SRC` for `SRC 5`), for rows of a production.
    #[serde(skip_serializing_if = "Option::is_none")]
    display_prefix: Option<&'static str>,
}

/// Every kind's facts, as the JSON the push sends with each batch.
fn kind_facts() -> &'static str {
    static FACTS: OnceLock<String> = OnceLock::new();
    FACTS.get_or_init(|| {
        let facts: BTreeMap<&str, KindFacts> = registry()
            .all()
            .iter()
            .map(|kind| {
                let prefix = Some(kind.display_prefix)
                    .filter(|_| kind.scope == Scope::Production)
                    .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
                (
                    kind.name,
                    KindFacts {
                        header: kind.is_production,
                        display_prefix: prefix,
                    },
                )
            })
            .collect();
        serde_json::to_string(&facts).expect("kind facts serialize")
    })
}

impl HubSession {
    /// Applies a batch of one node's outbox in one call and one hub transaction. Entries the
    /// hub already holds (a retry after a lost answer) change nothing; they are acknowledged
    /// again.
    pub async fn push(
        &mut self,
        node_id: &str,
        node_cursor: i64,
        batch: &OutboxBatch,
    ) -> Result<PushReport> {
        let text: String = self
            .client
            .query_one(
                "SELECT venuebox_push($1, $2, $3::text::jsonb, $4::text::jsonb)::text",
                &[&node_id, &node_cursor, &batch.json, &kind_facts()],
            )
            .await?
            .get(0);
        serde_json::from_str(&text)
            .map_err(|e| SyncError::Hub(format!("the hub's push answer did not parse: {e}")))
    }
}
