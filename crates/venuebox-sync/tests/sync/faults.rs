//! The faults a venue produces, one test each (issue #15): a delete racing an edit it never
//! saw, a link that dies mid-push, a 100–150 ms uplink, a quiet hub, a hub restored from a
//! dump, a re-create after a delete, a day-slow box after a download; and the smaller ones:
//! labels given out twice while apart, a production id the hub must not trust, a clock that
//! does not parse, a pull page that arrives after the cursor moved on.
use std::time::Duration;

use serde_json::{Value, json};
use venuebox_sync::{ScopeMode, SyncEngine, SyncError};

use crate::harness::{self, Node, Proxy, ProxyMode, TestHub, as_hub_rows};
use crate::{production, source};

/// 1. Box B edits a checklist item's title and its edit reaches the hub first; box A, which
///    never saw that edit, edits another field of the item later (so A's newest clock on the
///    row is after B's) and deletes it. The delete carries the clocks A held, so the hub knows
///    the title it overwrites was never seen: it goes to the conflict log, on every node. An
///    edit A had seen before deleting is no conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_that_never_saw_an_edit_keeps_the_edit_in_the_conflict_log() {
    let hub = TestHub::new().await;
    let a = Node::new("venue", &hub.url);
    let b = Node::new("office", &hub.url);
    production(&a, "p1").await;
    let unseen = a.item("p1", "Check intercom").await;
    let seen = a.item("p1", "Check comms").await;
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();

    b.update(
        "checklist-item",
        &seen,
        json!({"title": "Check comms twice"}),
    )
    .await
    .unwrap();
    b.sync(&hub.url).await.unwrap();
    a.engine
        .pull_all(&mut a.connect(&hub.url).await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        a.rows("checklist-item").await[&seen].0["title"],
        "Check comms twice"
    );
    b.update(
        "checklist-item",
        &unseen,
        json!({"title": "Check intercom + PL"}),
    )
    .await
    .unwrap();
    b.sync(&hub.url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    a.update("checklist-item", &unseen, json!({"category": "AUDIO"}))
        .await
        .unwrap();
    a.delete("checklist-item", &unseen).await.unwrap();
    a.delete("checklist-item", &seen).await.unwrap();
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    for node in [&a, &b] {
        let rows = node.rows("checklist-item").await;
        assert!(!rows.contains_key(&unseen) && !rows.contains_key(&seen));
        let conflicts = node.conflicts().await;
        let lost: Vec<&Value> = conflicts
            .iter()
            .filter(|c| c.reason == "deleted")
            .map(|c| &c.loser_value)
            .collect();
        assert_eq!(
            lost,
            vec![&json!("Check intercom + PL")],
            "{}: the unseen edit is kept, the seen one is no conflict: {conflicts:?}",
            node.name
        );
    }
    assert_eq!(hub.rows("checklist-item").await.len(), 0);
}

/// 2. A box whose link goes dead in the middle of a push (the hub never hears the rest, the
///    box never hears an answer, and nobody closes anything) holds up no other box: the push
///    is one call the hub runs on its own, so no hub session sits in a transaction waiting
///    for the dead box. The dead box's push completes or never started; mended, it goes on
///    with nothing applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_whose_link_dies_mid_push_holds_up_no_other_box() {
    let hub = TestHub::new().await;
    let proxy = Proxy::start().await;
    let via_proxy = hub.url_via(&proxy);
    let dead = Node::new("dead-link", &via_proxy);
    let other = Node::new("other", &hub.url);
    production(&dead, "p-dead").await;
    production(&other, "p-other").await;
    for n in 0..2000 {
        source(&dead, "p-dead", &format!("Dead {n}")).await;
    }
    for n in 0..50 {
        source(&other, "p-other", &format!("Other {n}")).await;
    }
    // Both know the hub first (schema, registration).
    dead.sync(&via_proxy).await.unwrap();
    other.sync(&hub.url).await.unwrap();
    for n in 0..2000 {
        source(&dead, "p-dead", &format!("Dead again {n}")).await;
    }
    let mut dead_hub = dead.connect(&via_proxy).await.unwrap();
    let pushing = {
        let engine = dead.engine.clone();
        tokio::spawn(async move { engine.push_all(&mut dead_hub).await })
    };
    // Wait until the push call is on its way, then the link dies silently.
    let turns = proxy.turns();
    while proxy.turns() == turns {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    proxy.set(ProxyMode::Blackhole);
    for n in 0..20 {
        source(&other, "p-other", &format!("Other later {n}")).await;
    }
    let started = std::time::Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(30), other.sync(&hub.url))
        .await
        .expect("another box's push is not held up by the dead link")
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(report.pushed, 20);
    assert!(
        waited < Duration::from_secs(5),
        "the other box waited {waited:?}"
    );
    // No hub session is left inside a transaction on the dead box's behalf.
    let idle_in_transaction: i64 = hub
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state LIKE 'idle in transaction%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(idle_in_transaction, 0);
    // The dead box gives up on its call (here: the test abandons it), the link comes back,
    // and it pushes again: whatever the hub had applied is acknowledged, nothing twice.
    pushing.abort();
    proxy.set(ProxyMode::Up);
    dead.sync(&via_proxy).await.unwrap();
    assert_eq!(dead.queue_length().await, 0);
    let origin: Vec<i64> = hub
        .client()
        .await
        .query(
            "SELECT origin_seq FROM hub_changes WHERE origin_node = $1 ORDER BY seq",
            &[&dead.store().node_id()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        origin,
        (1..=4001).collect::<Vec<i64>>(),
        "no gap, no duplicate"
    );
}

/// 3. Over a 100 ms and a 150 ms round trip (a 4G hotspot) a queue of 2,000 changes drains in
///    a handful of round trips: a push costs one round trip per batch, whatever its size
///    (each entry used to cost four, and a 500-entry batch never finished in its timeout).
///    A call that times out is retried with half the batch, so a link that is too slow still
///    makes progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_uplink_drains_its_queue_in_a_few_round_trips() {
    for rtt in [100, 150] {
        let hub = TestHub::new().await;
        let proxy = Proxy::start().await;
        let via_proxy = hub.url_via(&proxy);
        let node = Node::new("hotspot", &via_proxy);
        production(&node, "p1").await;
        for n in 0..2000 {
            source(&node, "p1", &format!("Source {n}")).await;
        }
        let mut hub_conn = node.connect(&via_proxy).await.unwrap();
        proxy.set_rtt(Duration::from_millis(rtt));
        let before = proxy.turns();
        let (pushed, _) = node.engine.push_all(&mut hub_conn).await.unwrap();
        let turns = proxy.turns() - before;
        assert_eq!(pushed, 2001);
        assert_eq!(node.queue_length().await, 0);
        assert!(
            turns <= 12,
            "{rtt} ms: {turns} round trips for 2,001 changes (4 per change before)"
        );
        assert_eq!(hub.rows("source").await.len(), 2000);
    }

    // A link too slow for the call's deadline: the call times out, the batch halves, and the
    // next attempt gets through.
    let hub = TestHub::new().await;
    let proxy = Proxy::start().await;
    let via_proxy = hub.url_via(&proxy);
    let node = Node::new("slow", &via_proxy);
    production(&node, "p1").await;
    for n in 0..600 {
        source(&node, "p1", &format!("Source {n}")).await;
    }
    let mut settings = harness::settings("slow", &via_proxy, ScopeMode::All);
    settings.call_timeout = Duration::from_millis(300);
    let engine = SyncEngine::manual(node.store().clone(), settings);
    let mut hub_conn = node.connect(&via_proxy).await.unwrap();
    assert_eq!(engine.push_batch_size(), 500);
    proxy.set(ProxyMode::Blackhole);
    let err = engine.push_all(&mut hub_conn).await.unwrap_err();
    assert!(matches!(err, SyncError::Timeout), "{err}");
    assert_eq!(engine.push_batch_size(), 250, "halved after the timeout");
    proxy.set(ProxyMode::Up);
    let mut hub_conn = node.connect(&via_proxy).await.unwrap();
    engine.push_all(&mut hub_conn).await.unwrap();
    assert_eq!(node.queue_length().await, 0);
}

/// 4. A hub where nothing changed for a whole tombstone window purges its whole log; a box
///    that had pulled everything is not stale (it missed nothing), one that had not pulled
///    the purged entries is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_hub_leaves_caught_up_boxes_syncing() {
    let hub = TestHub::new().await;
    let a = Node::new("a", &hub.url);
    let b = Node::new("b", &hub.url);
    let behind = Node::new("behind", &hub.url);
    behind.sync(&hub.url).await.unwrap();
    production(&a, "p1").await;
    source(&a, "p1", "Camera 1").await;
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    let client = hub.client().await;
    client
        .batch_execute(
            "UPDATE hub_meta SET value = '3600' WHERE key = 'tombstone_window_secs'; \
             UPDATE hub_changes SET at = now() - interval '2 hours';",
        )
        .await
        .unwrap();
    let head: i64 = client
        .query_one("SELECT max(seq) FROM hub_changes", &[])
        .await
        .unwrap()
        .get(0);
    let pruned = a.connect(&hub.url).await.unwrap().prune().await.unwrap();
    assert_eq!(pruned, head, "the whole log went");
    for node in [&a, &b] {
        node.sync(&hub.url)
            .await
            .unwrap_or_else(|e| panic!("{} is caught up: {e}", node.name));
    }
    source(&b, "p1", "Camera 2").await;
    b.sync(&hub.url).await.unwrap();
    a.sync(&hub.url).await.unwrap();
    assert_eq!(a.rows("source").await.len(), 2);
    let err = behind.sync(&hub.url).await.unwrap_err();
    assert!(
        matches!(err, SyncError::Stale { cursor: 0, pruned_through } if pruned_through == head),
        "{err}"
    );
}

/// 5. The hub is restored from a `pg_dump` taken earlier: it has the same epoch, but it lost
///    changes it had acknowledged after the dump. Every box notices (the hub holds fewer of
///    its changes than it acknowledged, or the log entry at its cursor is another one), stops
///    with HUB_RESTORED keeping its queue, and adopting the hub sends it again everything it
///    lacks: nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_restored_from_a_dump_is_noticed_and_nothing_acknowledged_is_lost() {
    let hub = TestHub::new().await;
    let writer = Node::new("writer", &hub.url);
    let reader = Node::new("reader", &hub.url);
    let bystander = Node::new("bystander", &hub.url);
    production(&writer, "p1").await;
    let first = source(&writer, "p1", "Before the dump").await;
    let doomed = writer.item("p1", "Delete me after the dump").await;
    for node in [&writer, &reader, &bystander] {
        node.sync(&hub.url).await.unwrap();
    }
    let dump = hub.dump().await;

    // After the dump: acknowledged writes, an acknowledged delete, and a box that only
    // pulled them.
    let later = source(&writer, "p1", "After the dump").await;
    writer
        .update("source", &first, json!({"note": "edited after the dump"}))
        .await
        .unwrap();
    writer.delete("checklist-item", &doomed).await.unwrap();
    writer.sync(&hub.url).await.unwrap();
    assert_eq!(writer.queue_length().await, 0, "all acknowledged");
    reader.sync(&hub.url).await.unwrap();
    assert_eq!(reader.rows("source").await.len(), 2);

    hub.restore(&dump).await;
    std::fs::remove_file(&dump).unwrap();
    // The bystander saw nothing after the dump: the restored hub is still its hub. It writes
    // on, moving the log's head past where the others had pulled to.
    for n in 0..10 {
        source(&bystander, "p1", &format!("Bystander {n}")).await;
    }
    bystander.sync(&hub.url).await.unwrap();

    for node in [&writer, &reader] {
        source(node, "p1", &format!("Queued on {}", node.name)).await;
        let err = node.sync(&hub.url).await.unwrap_err();
        assert!(
            matches!(err, SyncError::Restored { .. }),
            "{}: {err}",
            node.name
        );
        assert!(err.is_fatal());
        assert_eq!(
            node.queue_length().await,
            1,
            "{} keeps its queue",
            node.name
        );
    }
    for node in [&writer, &reader] {
        node.engine.adopt_new_hub().await.unwrap();
    }
    for _ in 0..2 {
        for node in [&writer, &reader, &bystander] {
            node.sync(&hub.url).await.unwrap();
        }
    }
    let on_hub = hub.rows("source").await;
    assert_eq!(on_hub[&later]["name"], "After the dump");
    assert_eq!(on_hub[&first]["note"], "edited after the dump");
    assert_eq!(on_hub.len(), 1 + 1 + 10 + 2);
    assert!(
        !hub.rows("checklist-item").await.contains_key(&doomed),
        "the acknowledged delete stands"
    );
    for kind in ["source", "checklist-item", "production"] {
        let on_hub = hub.rows(kind).await;
        for node in [&writer, &reader, &bystander] {
            assert_eq!(
                as_hub_rows(&node.rows(kind).await),
                on_hub,
                "{kind} on {}",
                node.name
            );
        }
    }
}

/// 6. A row deleted and then created again under the same id (a settings key, a production
///    whose id the app chose) is there on every box: the create says it saw the delete, so
///    it wins over the tombstone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_created_again_after_a_delete_lives_on_every_box() {
    let hub = TestHub::new().await;
    let a = Node::new("a", &hub.url);
    let b = Node::new("b", &hub.url);
    let key = |value: &str| json!({"key": "stage-manager", "value": value});
    let setting = a.create("setting", key("Ana")).await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    production(&a, "gala").await;
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    a.delete("setting", &setting).await.unwrap();
    a.delete("production", "gala").await.unwrap();
    a.create("setting", key("Ben")).await;
    production(&a, "gala").await;
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    for node in [&a, &b] {
        assert_eq!(
            node.rows("setting").await[&setting].0["value"],
            "Ben",
            "{}",
            node.name
        );
        assert!(node.rows("production").await.contains_key("gala"));
    }
    // The box that only pulled the delete re-creates too, and wins the same way.
    b.delete("setting", &setting).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    a.sync(&hub.url).await.unwrap();
    assert!(!a.rows("setting").await.contains_key(&setting));
    a.create("setting", key("Cleo")).await;
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    assert_eq!(b.rows("setting").await[&setting].0["value"], "Cleo");
    assert!(
        a.conflicts().await.is_empty(),
        "nothing concurrent: {:?}",
        a.conflicts().await
    );
}

/// 7. A box whose clock runs a day slow downloads a production, then edits it: the edit was
///    made after seeing the downloaded value, so it wins without a conflict (the download
///    moved the box's clock past every clock it installed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_slow_box_keeps_its_first_edits_after_a_download() {
    const DAY: i64 = 86_400_000;
    let hub = TestHub::new().await;
    let office = Node::new("office", &hub.url);
    production(&office, "show").await;
    let cam = source(&office, "show", "Camera 1").await;
    office.sync(&hub.url).await.unwrap();
    let venue = Node::with_scope("venue", &hub.url, ScopeMode::Held);
    venue.store().clock().set_skew_ms(-DAY);
    venue.engine.download("show", false).await.unwrap();
    venue
        .update("source", &cam, json!({"name": "Camera 1 (venue)"}))
        .await
        .unwrap();
    venue.sync(&hub.url).await.unwrap();
    office.sync(&hub.url).await.unwrap();
    assert_eq!(hub.rows("source").await[&cam]["name"], "Camera 1 (venue)");
    assert_eq!(
        office.rows("source").await[&cam].0["name"],
        "Camera 1 (venue)"
    );
    assert!(venue.conflicts().await.is_empty(), "not concurrent");
}

/// Two boxes apart each create the next source of a show and both call it "SRC 2": the one
/// that reaches the hub second becomes the next free number everywhere, and the conflict log
/// says so. Labels the crew typed themselves are left as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_given_out_twice_while_apart_are_renumbered_once() {
    let hub = TestHub::new().await;
    let a = Node::new("a", &hub.url);
    let b = Node::new("b", &hub.url);
    production(&a, "p1").await;
    source(&a, "p1", "First").await;
    a.sync(&hub.url).await.unwrap();
    b.sync(&hub.url).await.unwrap();
    let from_a = source(&a, "p1", "From A").await;
    let from_b = source(&b, "p1", "From B").await;
    let typed_a = a
        .create(
            "source",
            json!({"productionId": "p1", "id": "Main wide", "name": "Wide A", "type": "Camera"}),
        )
        .await;
    let typed_b = b
        .create(
            "source",
            json!({"productionId": "p1", "id": "Main wide", "name": "Wide B", "type": "Camera"}),
        )
        .await;
    assert_eq!(a.rows("source").await[&from_a].0["id"], "SRC 2");
    assert_eq!(b.rows("source").await[&from_b].0["id"], "SRC 2");
    for _ in 0..2 {
        a.sync(&hub.url).await.unwrap();
        b.sync(&hub.url).await.unwrap();
    }
    for node in [&a, &b] {
        let rows = node.rows("source").await;
        assert_eq!(rows[&from_a].0["id"], "SRC 2", "{}", node.name);
        assert_eq!(rows[&from_b].0["id"], "SRC 3", "{}", node.name);
        assert_eq!(rows[typed_a["uuid"].as_str().unwrap()].0["id"], "Main wide");
        assert_eq!(rows[typed_b["uuid"].as_str().unwrap()].0["id"], "Main wide");
        let renumbered: Vec<_> = node
            .conflicts()
            .await
            .into_iter()
            .filter(|c| c.reason == "renumbered")
            .collect();
        assert_eq!(renumbered.len(), 1, "{}", node.name);
        assert_eq!(renumbered[0].loser_value, "SRC 2");
        assert_eq!(renumbered[0].winner_value, "SRC 3");
    }
    // The next label made on either box follows them.
    let next = source(&a, "p1", "Next").await;
    assert_eq!(a.rows("source").await[&next].0["id"], "SRC 4");
}

/// The hub decides locks and scope by the production it holds a row under, not by the one an
/// entry names; and it refuses a clock that does not parse instead of letting it sort above
/// every real clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_trusts_neither_a_named_production_nor_a_malformed_clock() {
    let hub = TestHub::new().await;
    let holder = Node::new("holder", &hub.url);
    let other = Node::new("other", &hub.url);
    production(&holder, "locked").await;
    production(&holder, "open").await;
    let cam = source(&holder, "locked", "Camera 1").await;
    holder.sync(&hub.url).await.unwrap();
    other.sync(&hub.url).await.unwrap();
    holder.engine.set_lock("locked", true).await.unwrap();

    other
        .update("source", &cam, json!({"name": "Sneaked in"}))
        .await
        .unwrap();
    other
        .store()
        .write(|tx| {
            tx.conn()
                .execute("UPDATE sync_outbox SET production_id = 'open'", [])?;
            Ok(())
        })
        .await
        .unwrap();
    other.sync(&hub.url).await.unwrap();
    assert_eq!(hub.rows("source").await[&cam]["name"], "Camera 1");
    assert!(
        other
            .conflicts()
            .await
            .iter()
            .any(|c| c.reason == "locked" && c.loser_value == "Sneaked in")
    );
    assert_eq!(other.rows("source").await[&cam].0["name"], "Camera 1");

    holder
        .update("source", &cam, json!({"note": "from a broken clock"}))
        .await
        .unwrap();
    holder
        .store()
        .write(|tx| {
            tx.conn().execute(
                "UPDATE sync_outbox SET clocks = '{\"note\": \"9999999999999-zzzz\"}' \
                 WHERE node_seq = (SELECT max(node_seq) FROM sync_outbox)",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    holder.sync(&hub.url).await.unwrap();
    assert!(hub.rows("source").await[&cam]["note"].is_null());
    assert!(
        holder
            .conflicts()
            .await
            .iter()
            .any(|c| c.reason == "invalid clock")
    );
    let newest = hub.newest_clock().await;
    assert!(!newest.starts_with("9999"), "{newest}");
}

/// A page pulled from a cursor that another pull (a download's, say) has moved on meanwhile
/// is not applied, and never moves the cursor backwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_pull_page_never_moves_the_cursor_backwards() {
    let hub = TestHub::new().await;
    let office = Node::new("office", &hub.url);
    let venue = Node::new("venue", &hub.url);
    production(&office, "p1").await;
    for n in 0..30 {
        source(&office, "p1", &format!("Source {n}")).await;
    }
    office.sync(&hub.url).await.unwrap();
    let mut early = venue.connect(&hub.url).await.unwrap();
    let page = early
        .pull(
            venue.store().node_id(),
            0,
            &venuebox_sync::PullScope::All,
            10,
        )
        .await
        .unwrap();
    assert_eq!(page.next_cursor, 10);
    venue.sync(&hub.url).await.unwrap();
    let store = venue.store().clone();
    let cursor = move || {
        let store = store.clone();
        async move { store.sync_cursor().await.unwrap() }
    };
    let caught_up = cursor().await;
    assert_eq!(caught_up, 31);
    let applied = venue
        .store()
        .apply_pull(
            0,
            page.changes,
            page.next_cursor,
            page.anchor,
            venuebox_store::clock::now_iso(),
        )
        .await
        .unwrap();
    assert!(applied.is_none(), "the stale page is refused");
    assert_eq!(cursor().await, caught_up);
}

/// A pull of several pages reads each next page while the one before applies; the pages
/// still apply in log order, each exactly once: 1,200 checklist items created and then all
/// renamed (2,401 changes, three pages) end renamed on the pulling node, as on the hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_of_many_pages_applies_every_page_once_and_in_order() {
    let hub = TestHub::new().await;
    let office = Node::new("office", &hub.url);
    let venue = Node::new("venue", &hub.url);
    production(&office, "p1").await;
    let items = futures_util::future::join_all((0..1200).map(|n| {
        let office = &office;
        async move { office.item("p1", &format!("Item {n}")).await }
    }))
    .await;
    futures_util::future::join_all(items.iter().enumerate().map(|(n, uuid)| {
        let title = json!({"title": format!("Item {n} done")});
        let office = &office;
        async move { office.update("checklist-item", uuid, title).await }
    }))
    .await
    .into_iter()
    .for_each(|renamed| drop(renamed.unwrap()));
    office.sync(&hub.url).await.unwrap();

    let mut connection = venue.connect(&hub.url).await.unwrap();
    venue.engine.handshake(&connection).await.unwrap();
    let (applied, _, head) = venue.engine.pull_all(&mut connection).await.unwrap();
    assert_eq!(applied, 2401, "every change applied once");
    assert_eq!(venue.store().sync_cursor().await.unwrap(), head);
    let rows = venue.rows("checklist-item").await;
    assert_eq!(rows.len(), 1200);
    assert!(
        rows.values()
            .all(|(data, _)| data["title"].as_str().unwrap().ends_with(" done")),
        "a later page's rename was applied before the create it follows, or not at all"
    );
    assert_eq!(
        as_hub_rows(&rows),
        hub.rows("checklist-item").await,
        "the venue holds what the hub holds"
    );
}
