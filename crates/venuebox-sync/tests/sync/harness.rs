//! Nodes for the sync tests: each its own SQLite file, synced by hand. The hub database and
//! the breakable proxy come from `venuebox_sync::testkit`.
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};
use venuebox_store::{Store, StoreOptions, registry};
use venuebox_sync::hub::HubSession;
use venuebox_sync::{HubTarget, ScopeMode, SyncEngine, SyncSettings};

/// A node: its own data folder and store, synced by hand.
pub struct Node {
    pub name: String,
    /// Kept so the data folder lives as long as the node.
    pub _dir: tempfile::TempDir,
    pub engine: SyncEngine,
}

impl Node {
    /// The process dies and starts again: the store is closed (nothing after the last commit
    /// survives, as after kill -9, since every write is acknowledged only once committed) and
    /// opened again from its files, with a fresh engine.
    pub fn restart(&mut self) {
        let settings = self.engine.settings().clone();
        self.engine.store().close();
        let store = Store::open(self._dir.path(), StoreOptions { readers: 2 }).unwrap();
        self.engine = SyncEngine::manual(store, settings);
    }

    /// One row of a kind, if this node has it: (data, is_deleted).
    pub async fn row(&self, uuid: &str) -> Option<(Value, bool)> {
        let uuid = uuid.to_owned();
        self.store()
            .read(move |conn| {
                use rusqlite::OptionalExtension;
                Ok(conn
                    .query_row(
                        "SELECT data, is_deleted FROM entities WHERE uuid = ?1",
                        [uuid],
                        |row| {
                            let data: String = row.get(0)?;
                            Ok((serde_json::from_str(&data).unwrap(), row.get(1)?))
                        },
                    )
                    .optional()?)
            })
            .await
            .unwrap()
    }
}

pub fn settings(name: &str, url: &str, scope: ScopeMode) -> SyncSettings {
    SyncSettings {
        hub: Some(HubTarget::new(url, None).unwrap()),
        node_name: name.into(),
        interval: Duration::from_secs(3600),
        scope,
        backup_dir: None,
        call_timeout: venuebox_sync::engine::CALL_TIMEOUT,
    }
}

impl Node {
    pub fn new(name: &str, url: &str) -> Node {
        Node::with_scope(name, url, ScopeMode::All)
    }

    pub fn with_scope(name: &str, url: &str, scope: ScopeMode) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions { readers: 2 }).unwrap();
        let engine = SyncEngine::manual(store, settings(name, url, scope));
        Node {
            name: name.into(),
            _dir: dir,
            engine,
        }
    }

    pub fn store(&self) -> &Store {
        self.engine.store()
    }

    pub async fn connect(&self, url: &str) -> venuebox_sync::Result<HubSession> {
        let hub = HubTarget::new(url, None)?.connect().await?;
        self.engine.handshake(&hub).await?;
        Ok(hub)
    }

    /// Push then pull, on a fresh connection.
    pub async fn sync(&self, url: &str) -> venuebox_sync::Result<venuebox_sync::RoundReport> {
        let mut hub = self.connect(url).await?;
        self.engine.round(&mut hub).await
    }

    pub async fn create(&self, kind: &str, body: Value) -> Value {
        self.store()
            .create(registry().kind(kind), body.as_object().unwrap().clone())
            .await
            .unwrap()
    }

    /// A checklist item in `production`; its uuid.
    pub async fn item(&self, production: &str, title: &str) -> String {
        self.create(
            "checklist-item",
            json!({"productionId": production, "title": title}),
        )
        .await["uuid"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn update(
        &self,
        kind: &str,
        key: &str,
        body: Value,
    ) -> venuebox_store::Result<Value> {
        self.store()
            .update(
                registry().kind(kind),
                key.to_owned(),
                body.as_object().unwrap().clone(),
            )
            .await
    }

    pub async fn delete(&self, kind: &str, key: &str) -> venuebox_store::Result<()> {
        self.store()
            .delete(registry().kind(kind), key.to_owned(), Default::default())
            .await
            .map(drop)
    }

    /// Every row of a kind: uuid -> (data, is_deleted).
    pub async fn rows(&self, kind: &str) -> BTreeMap<String, (Value, bool)> {
        let kind = kind.to_owned();
        self.store()
            .read(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT uuid, data, is_deleted FROM entities WHERE kind = ?1 ORDER BY uuid",
                )?;
                let rows = stmt.query_map([kind], |row| {
                    let data: String = row.get(1)?;
                    Ok((
                        row.get::<_, String>(0)?,
                        (serde_json::from_str(&data).unwrap(), row.get(2)?),
                    ))
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
            .unwrap()
    }

    pub async fn queue_length(&self) -> i64 {
        self.store().queue_stats().await.unwrap().queue_length
    }

    pub async fn conflicts(&self) -> Vec<venuebox_store::replica::ConflictRecord> {
        self.store().conflicts(true, 10_000).await.unwrap()
    }
}

/// The node's rows as the hub should hold them (data with `_deleted`), for comparisons.
pub fn as_hub_rows(rows: &BTreeMap<String, (Value, bool)>) -> BTreeMap<String, Value> {
    rows.iter()
        .map(|(uuid, (data, deleted))| {
            let mut data: Map<String, Value> = data.as_object().unwrap().clone();
            data.insert("_deleted".into(), json!(deleted));
            (uuid.clone(), Value::Object(data))
        })
        .collect()
}

pub use venuebox_sync::testkit::{Proxy, ProxyMode, TestHub};
