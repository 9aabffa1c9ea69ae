//! Three nodes, random schedules of creates, edits, archives, hard deletes and re-creates of
//! the same rows, random partitions, random push/pull interleavings, and nodes killed (after
//! the hub committed a push whose answer never arrived, or at rest) and started again. After
//! healing and draining:
//!
//! * convergence: every node and the hub hold the same rows and the same conflict log;
//! * nothing silently lost: every value a node acknowledged is the final value, or is in the
//!   conflict log, or was replaced by a change (or deleted by a delete) whose node had seen it;
//! * no false alarm: no conflict is logged between two values where one writer had seen the
//!   other's value, and no `deleted` conflict for a value every deleter had seen.
use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::harness::{Node, Proxy, ProxyMode, TestHub, as_hub_rows};
use crate::{production, source};

const NODES: usize = 3;

#[derive(Debug, Clone)]
enum Step {
    /// A new row of the show: a source (archived, not deleted) or a checklist item (deleted).
    Create {
        node: usize,
        checklist: bool,
    },
    /// Edit the tracked field of the `row`-th row this node knows.
    Edit {
        node: usize,
        row: usize,
    },
    /// Archive a source or delete a checklist item.
    Delete {
        node: usize,
        row: usize,
    },
    /// Put a settings key (created again under the same id after a delete).
    PutKey {
        node: usize,
        key: usize,
    },
    DeleteKey {
        node: usize,
        key: usize,
    },
    Push {
        node: usize,
    },
    Pull {
        node: usize,
    },
    Partition {
        node: usize,
        cut: bool,
    },
    /// The hub commits the node's push, the answer is lost, and the node dies.
    KillMidPush {
        node: usize,
    },
    /// The node dies at rest and starts again.
    Restart {
        node: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let node = 0..NODES;
    prop_oneof![
        2 => (node.clone(), any::<bool>()).prop_map(|(node, checklist)| Step::Create { node, checklist }),
        5 => (node.clone(), 0..6usize).prop_map(|(node, row)| Step::Edit { node, row }),
        2 => (node.clone(), 0..6usize).prop_map(|(node, row)| Step::Delete { node, row }),
        2 => (node.clone(), 0..2usize).prop_map(|(node, key)| Step::PutKey { node, key }),
        1 => (node.clone(), 0..2usize).prop_map(|(node, key)| Step::DeleteKey { node, key }),
        4 => node.clone().prop_map(|node| Step::Push { node }),
        4 => node.clone().prop_map(|node| Step::Pull { node }),
        1 => (node.clone(), any::<bool>()).prop_map(|(node, cut)| Step::Partition { node, cut }),
        1 => node.clone().prop_map(|node| Step::KillMidPush { node }),
        1 => node.prop_map(|node| Step::Restart { node }),
    ]
}

/// A value a node acknowledged, and the value it replaced there (what its writer had seen).
#[derive(Debug)]
struct Write {
    uuid: String,
    column: &'static str,
    value: String,
    replaced: Option<String>,
}

/// A hard delete and the values its node held when it deleted.
#[derive(Debug)]
struct Delete {
    uuid: String,
    seen: BTreeMap<&'static str, String>,
}

/// The tracked column of each kind in this test.
fn column_of(kind: &str) -> &'static str {
    match kind {
        "source" => "name",
        "checklist-item" => "title",
        _ => "value",
    }
}

struct World {
    hub: TestHub,
    proxies: Vec<Proxy>,
    nodes: Vec<Node>,
    urls: Vec<String>,
    cut: [bool; NODES],
    /// Rows made so far: (kind, uuid).
    rows: Vec<(&'static str, String)>,
    writes: Vec<Write>,
    deletes: Vec<Delete>,
    counter: usize,
}

impl World {
    fn unique(&mut self, node: usize) -> String {
        self.counter += 1;
        format!("v{} on n{node}", self.counter)
    }

    async fn local(&self, node: usize, uuid: &str, column: &str) -> Option<String> {
        let (data, _) = self.nodes[node].row(uuid).await?;
        data.get(column).and_then(Value::as_str).map(str::to_owned)
    }

    async fn key_uuid(&self, key: usize) -> String {
        venuebox_store::model::derived_uuid(&["setting", &format!("key-{key}")])
    }

    async fn apply(&mut self, step: Step) {
        match step {
            Step::Create { node, checklist } => {
                let value = self.unique(node);
                let (kind, body) = if checklist {
                    (
                        "checklist-item",
                        json!({"productionId": "p", "title": value}),
                    )
                } else {
                    (
                        "source",
                        json!({"productionId": "p", "name": value, "type": "Camera"}),
                    )
                };
                let created = self.nodes[node].create(kind, body).await;
                let uuid = created["uuid"].as_str().unwrap().to_owned();
                self.writes.push(Write {
                    uuid: uuid.clone(),
                    column: column_of(kind),
                    value,
                    replaced: None,
                });
                self.rows.push((kind, uuid));
            }
            Step::Edit { node, row } => {
                let Some((kind, uuid)) = self.rows.get(row).cloned() else {
                    return;
                };
                let column = column_of(kind);
                let replaced = self.local(node, &uuid, column).await;
                let value = self.unique(node);
                let wire = if kind == "source" { "name" } else { "title" };
                if self.nodes[node]
                    .update(kind, &uuid, json!({ wire: value }))
                    .await
                    .is_ok()
                {
                    self.writes.push(Write {
                        uuid,
                        column,
                        value,
                        replaced,
                    });
                }
            }
            Step::Delete { node, row } => {
                let Some((kind, uuid)) = self.rows.get(row).cloned() else {
                    return;
                };
                let seen = self.local(node, &uuid, column_of(kind)).await;
                if self.nodes[node].delete(kind, &uuid).await.is_ok() && kind != "source" {
                    self.deletes.push(Delete {
                        uuid,
                        seen: seen.map(|v| (column_of(kind), v)).into_iter().collect(),
                    });
                }
            }
            Step::PutKey { node, key } => {
                let uuid = self.key_uuid(key).await;
                let value = self.unique(node);
                let replaced = self.local(node, &uuid, "value").await;
                let body = json!({"key": format!("key-{key}"), "value": value});
                let done = if self.nodes[node].row(&uuid).await.is_some() {
                    self.nodes[node]
                        .update("setting", &uuid, json!({"value": value}))
                        .await
                        .is_ok()
                } else {
                    self.nodes[node]
                        .store()
                        .create(
                            venuebox_store::registry().kind("setting"),
                            body.as_object().unwrap().clone(),
                        )
                        .await
                        .is_ok()
                };
                if done {
                    self.writes.push(Write {
                        uuid,
                        column: "value",
                        value,
                        replaced,
                    });
                }
            }
            Step::DeleteKey { node, key } => {
                let uuid = self.key_uuid(key).await;
                let seen = self.local(node, &uuid, "value").await;
                if self.nodes[node].delete("setting", &uuid).await.is_ok() {
                    self.deletes.push(Delete {
                        uuid,
                        seen: seen.map(|v| ("value", v)).into_iter().collect(),
                    });
                }
            }
            Step::Push { node } if !self.cut[node] => {
                let mut hub = self.nodes[node].connect(&self.urls[node]).await.unwrap();
                self.nodes[node].engine.push_all(&mut hub).await.unwrap();
            }
            Step::Pull { node } if !self.cut[node] => {
                let mut hub = self.nodes[node].connect(&self.urls[node]).await.unwrap();
                self.nodes[node].engine.pull_all(&mut hub).await.unwrap();
            }
            Step::Partition { node, cut } => {
                self.cut[node] = cut;
                self.proxies[node].set(if cut { ProxyMode::Down } else { ProxyMode::Up });
            }
            Step::KillMidPush { node } if !self.cut[node] => {
                let queued = self.nodes[node].queue_length().await;
                let mut hub = self.nodes[node].connect(&self.urls[node]).await.unwrap();
                self.proxies[node].set(ProxyMode::CutAfterCommit);
                let pushed = self.nodes[node].engine.push_all(&mut hub).await;
                assert!(queued == 0 || pushed.is_err(), "the answer was cut");
                self.proxies[node].set(ProxyMode::Up);
                self.nodes[node].restart();
            }
            Step::Restart { node } => self.nodes[node].restart(),
            _ => {}
        }
    }
}

async fn run(steps: Vec<Step>) {
    let hub = TestHub::new().await;
    let mut proxies = Vec::new();
    let mut urls = Vec::new();
    let mut nodes = Vec::new();
    for n in 0..NODES {
        let proxy = Proxy::start().await;
        let url = hub.url_via(&proxy);
        nodes.push(Node::new(&format!("n{n}"), &url));
        urls.push(url);
        proxies.push(proxy);
    }
    production(&nodes[0], "p").await;
    let mut world = World {
        hub,
        proxies,
        nodes,
        urls,
        cut: [false; NODES],
        rows: Vec::new(),
        writes: Vec::new(),
        deletes: Vec::new(),
        counter: 0,
    };
    let first = source(&world.nodes[0], "p", "v0 on n0").await;
    world.rows.push(("source", first.clone()));
    world.writes.push(Write {
        uuid: first,
        column: "name",
        value: "v0 on n0".into(),
        replaced: None,
    });
    for n in 0..NODES {
        world.nodes[n].sync(&world.urls[n]).await.unwrap();
    }
    for step in steps {
        world.apply(step).await;
    }
    // Heal and drain: everyone pushes, then everyone pulls, twice.
    for n in 0..NODES {
        world.proxies[n].set(ProxyMode::Up);
    }
    for _ in 0..2 {
        for n in 0..NODES {
            world.nodes[n].sync(&world.urls[n]).await.unwrap();
        }
    }
    check(&world).await;
}

async fn check(world: &World) {
    let hub = &world.hub;
    // Convergence.
    let hub_conflicts: i64 = hub
        .client()
        .await
        .query_one("SELECT count(*) FROM hub_conflicts", &[])
        .await
        .unwrap()
        .get(0);
    for kind in ["production", "source", "checklist-item", "setting"] {
        let on_hub = hub.rows(kind).await;
        for node in &world.nodes {
            assert_eq!(node.queue_length().await, 0, "{}", node.name);
            assert_eq!(
                as_hub_rows(&node.rows(kind).await),
                on_hub,
                "{kind} on {} vs the hub",
                node.name
            );
        }
    }
    let conflicts = world.nodes[0].conflicts().await;
    for node in &world.nodes {
        assert_eq!(
            node.conflicts().await.len() as i64,
            hub_conflicts,
            "{}",
            node.name
        );
    }

    // Nothing silently lost.
    let mut finals: BTreeMap<(String, &'static str), String> = BTreeMap::new();
    for kind in ["source", "checklist-item", "setting"] {
        for (uuid, data) in hub.rows(kind).await {
            if let Some(value) = data.get(column_of(kind)).and_then(Value::as_str) {
                finals.insert((uuid, column_of(kind)), value.to_owned());
            }
        }
    }
    let in_log = |uuid: &str, value: &str| {
        conflicts
            .iter()
            .any(|c| c.uuid == uuid && c.loser_value.as_str() == Some(value))
    };
    let superseded = |write: &Write| {
        world.writes.iter().any(|later| {
            later.uuid == write.uuid
                && later.column == write.column
                && later.replaced.as_deref() == Some(write.value.as_str())
        }) || world
            .deletes
            .iter()
            .any(|d| d.uuid == write.uuid && d.seen.get(write.column) == Some(&write.value))
    };
    for write in &world.writes {
        let is_final = finals.get(&(write.uuid.clone(), write.column)) == Some(&write.value);
        assert!(
            is_final || in_log(&write.uuid, &write.value) || superseded(write),
            "{write:?} is neither final, nor in the conflict log, nor replaced by a change \
             that had seen it\nconflicts: {conflicts:#?}"
        );
    }

    // No false alarm.
    let write_of = |value: &Value| {
        value
            .as_str()
            .and_then(|v| world.writes.iter().find(|w| w.value == v))
    };
    for conflict in &conflicts {
        match conflict.reason.as_str() {
            "concurrent" => {
                let (Some(winner), Some(loser)) = (
                    write_of(&conflict.winner_value),
                    write_of(&conflict.loser_value),
                ) else {
                    continue;
                };
                assert!(
                    winner.replaced.as_deref() != Some(loser.value.as_str())
                        && loser.replaced.as_deref() != Some(winner.value.as_str()),
                    "a conflict between a value and the change that had seen it: {conflict:?}"
                );
            }
            "deleted" => {
                let Some(loser) = write_of(&conflict.loser_value) else {
                    continue;
                };
                let deleters: Vec<&Delete> = world
                    .deletes
                    .iter()
                    .filter(|d| d.uuid == conflict.uuid)
                    .collect();
                assert!(
                    deleters.is_empty()
                        || deleters
                            .iter()
                            .any(|d| d.seen.get(loser.column) != Some(&loser.value)),
                    "a 'deleted' conflict for a value every deleter had seen: {conflict:?}"
                );
            }
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn nodes_converge_and_every_acknowledged_value_is_final_or_logged(
        steps in proptest::collection::vec(step(), 10..50)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(steps));
    }
}
