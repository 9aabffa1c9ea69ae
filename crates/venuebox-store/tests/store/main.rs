//! The store on a real SQLite file: durability settings, the group-commit writer's
//! isolation of refused writes, and change events.
use serde_json::{Map, Value, json};
use venuebox_store::{Operation, Store, StoreError, StoreOptions, registry};

fn body(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    (dir, store)
}

#[tokio::test]
async fn every_answered_write_was_flushed_to_the_write_ahead_log_first() {
    let (_dir, store) = open();
    let (mode, synchronous) = store
        .write(|tx| {
            let conn = tx.conn();
            let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
            let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
            Ok((mode, sync))
        })
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // The commit does not fsync (NORMAL); the flusher does, before the answer.
    assert_eq!(synchronous, 1, "synchronous=NORMAL on the writer");
    let productions = registry().kind("production");
    let flushes = || {
        store
            .writer_stats()
            .flushes
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    for n in 0..5 {
        let before = flushes();
        store
            .create(
                productions,
                body(json!({"id": format!("p{n}"), "name": "Show"})),
            )
            .await
            .unwrap();
        // The flush that covered this write finished before its answer was sent (a flush
        // that fails, e.g. a log the flusher cannot find, fails the write).
        assert!(flushes() > before, "write {n} answered without a flush");
    }
}

/// A write alone in its commit runs without a savepoint (the writer rolls the whole
/// transaction back instead): refused half-way, it must leave nothing behind either, and the
/// writer must go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_alone_in_its_commit_leaves_nothing() {
    let (_dir, store) = open();
    let productions = registry().kind("production");
    let checklist = registry().kind("checklist-item");
    store
        .create(productions, body(json!({"id": "p", "name": "Show"})))
        .await
        .unwrap();
    let commits = || {
        store
            .writer_stats()
            .commits
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    for n in 0..3 {
        let before = commits();
        let refused = store
            .write(move |tx| {
                for item in 0..50 {
                    let decoded = venuebox_store::codec::decode_body(
                        checklist,
                        body(json!({"productionId": "p", "title": format!("item {n}.{item}")})),
                    )?;
                    venuebox_store::entities::create(tx, checklist, decoded, Default::default())?;
                }
                Err::<(), _>(StoreError::BadRequest(format!("refused {n}")))
            })
            .await;
        assert!(
            matches!(refused, Err(StoreError::BadRequest(_))),
            "{refused:?}"
        );
        assert_eq!(
            commits(),
            before + 1,
            "the refused write was alone in its batch"
        );
        // A panic half-way is refused the same way.
        let panicked = store
            .write(move |tx| -> venuebox_store::Result<()> {
                let decoded = venuebox_store::codec::decode_body(
                    checklist,
                    body(json!({"productionId": "p", "title": "half-way"})),
                )?;
                venuebox_store::entities::create(tx, checklist, decoded, Default::default())?;
                panic!("a write panics after its insert")
            })
            .await;
        assert!(panicked.is_err());
    }
    let rows = store
        .list(checklist, Some("p".into()), false)
        .await
        .unwrap();
    assert!(
        rows.is_empty(),
        "{} rows of refused writes stayed",
        rows.len()
    );
    let outbox: i64 = store
        .read(|conn| Ok(conn.query_row("SELECT count(*) FROM sync_outbox", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(
        outbox, 1,
        "only the production's own change waits for the hub"
    );
    // The writer goes on.
    let kept = store
        .create(
            checklist,
            body(json!({"productionId": "p", "title": "kept"})),
        )
        .await
        .unwrap();
    assert_eq!(kept["title"], "kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_in_a_batch_rolls_back_alone() {
    let (_dir, store) = open();
    let productions = registry().kind("production");
    let checklist = registry().kind("checklist-item");
    store
        .create(productions, body(json!({"id": "p", "name": "Show"})))
        .await
        .unwrap();
    let mut events = store.subscribe();
    // Many writes at once so they share commits; every third one is refused half-way
    // (after its insert ran) and must leave nothing behind.
    let writes = (0..60usize).map(|n| {
        let store = store.clone();
        async move {
            store
                .write(move |tx| {
                    let decoded = venuebox_store::codec::decode_body(
                        checklist,
                        body(json!({"productionId": "p", "title": format!("item {n}")})),
                    )?;
                    venuebox_store::entities::create(tx, checklist, decoded, Default::default())?;
                    if n.is_multiple_of(3) {
                        return Err(StoreError::BadRequest(format!("refused {n}")));
                    }
                    Ok(n)
                })
                .await
        }
    });
    // join_all polls them together: every write is queued before any answer is awaited.
    let results = futures_util::future::join_all(writes).await;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(accepted, 40);
    let rows = store
        .list(checklist, Some("p".into()), false)
        .await
        .unwrap();
    assert_eq!(rows.len(), 40);
    assert!(rows.iter().all(|r| {
        let n: usize = r["title"].as_str().unwrap()[5..].parse().unwrap();
        !n.is_multiple_of(3)
    }));
    // The production's own event may still arrive after its create returned (events are
    // published once callers are answered): only the checklist items' events count here.
    let mut created = 0;
    while let Ok(write) = events.try_recv() {
        for event in write.iter().filter(|e| e.kind == checklist.name) {
            assert_eq!(event.operation, Operation::Created);
            created += 1;
        }
    }
    assert_eq!(created, 40, "events only for committed writes");
    let stats = store.writer_stats();
    let commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed);
    let writes = stats.writes.load(std::sync::atomic::Ordering::Relaxed);
    assert!(commits <= writes);
}

#[tokio::test]
async fn a_closed_store_refuses_writes_but_still_reads() {
    let (_dir, store) = open();
    let productions = registry().kind("production");
    store
        .create(productions, body(json!({"id": "p", "name": "Show"})))
        .await
        .unwrap();
    let closer = store.clone();
    tokio::task::spawn_blocking(move || closer.close())
        .await
        .unwrap();
    let refused = store
        .create(productions, body(json!({"name": "Late"})))
        .await;
    assert!(matches!(refused, Err(StoreError::Closed)), "{refused:?}");
    assert_eq!(store.list(productions, None, false).await.unwrap().len(), 1);
}

#[tokio::test]
async fn reopening_keeps_the_node_id_and_does_not_reseed() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let node = first.node_id().to_owned();
    let equipment = registry().kind("equipment");
    let count = first.list(equipment, None, false).await.unwrap().len();
    first.close();
    drop(first);
    let second = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(second.node_id(), node);
    assert_eq!(
        second.list(equipment, None, false).await.unwrap().len(),
        count
    );
    // Seeded rows carry the same uuid on every node.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Store::open(other_dir.path(), StoreOptions::default()).unwrap();
    assert_ne!(other.node_id(), node);
    let mine = second.list(equipment, None, false).await.unwrap();
    let theirs = other.list(equipment, None, false).await.unwrap();
    assert_eq!(mine[0]["uuid"], theirs[0]["uuid"]);
    assert_eq!(
        mine[0]["equipment_io_ports"][0]["uuid"],
        theirs[0]["equipment_io_ports"][0]["uuid"]
    );
}

/// Every row of every table, in a stable order: equal dumps mean identical query results.
fn dump(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut rows = Vec::new();
    for table in ["entities", "meta", "credentials", "tokens"] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1"))
            .unwrap();
        let columns = stmt.column_count();
        let mut query = stmt.query([]).unwrap();
        while let Some(row) = query.next().unwrap() {
            let values: Vec<String> = (0..columns)
                .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                .collect();
            rows.push(format!("{table}: {}", values.join(" | ")));
        }
    }
    rows
}

#[tokio::test]
async fn a_backup_restores_to_identical_query_results() {
    use venuebox_store::backup;
    let (dir, store) = open();
    let productions = registry().kind("production");
    store
        .create(productions, body(json!({"id": "p", "name": "Before"})))
        .await
        .unwrap();
    let backups = dir.path().join("backups");
    let file = store.backup_to(backups.clone()).await.unwrap();
    assert!(file.bytes > 0);
    let snapshot = backups.join(&file.file);
    let expected = dump(&snapshot);

    // Another process cannot open the same data folder while the store holds it.
    assert!(matches!(
        Store::open(dir.path(), StoreOptions::default()),
        Err(StoreError::Locked(_))
    ));
    store
        .update(
            productions,
            "p".into(),
            body(json!({"name": "After", "version": 1})),
        )
        .await
        .unwrap();
    let database = store.path().to_owned();
    store.close();
    drop(store);
    assert_ne!(
        dump(&database),
        expected,
        "the database moved on after the backup"
    );

    let lock = venuebox_store::DataDirLock::acquire(dir.path()).unwrap();
    let saved = backup::restore(&snapshot, dir.path(), &database).unwrap();
    drop(lock);
    assert_eq!(
        dump(&database),
        expected,
        "byte-identical query results after restore"
    );
    assert!(
        backups.join(&saved.file).exists(),
        "the replaced database was kept"
    );

    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let restored = store.get(productions, "p".into()).await.unwrap();
    assert_eq!(restored["name"], json!("Before"));
}

#[tokio::test]
async fn corrupt_files_are_refused_and_old_backups_pruned() {
    use venuebox_store::backup;
    let (dir, store) = open();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"this is not a database").unwrap();
    assert!(backup::verify(&garbage).is_err());
    let database = store.path().to_owned();
    let before = std::fs::read(&database).unwrap();
    assert!(backup::restore(&garbage, dir.path(), &database).is_err());
    assert_eq!(
        std::fs::read(&database).unwrap(),
        before,
        "nothing replaced"
    );

    let backups = dir.path().join("backups");
    for _ in 0..4 {
        store.backup_to(backups.clone()).await.unwrap();
    }
    assert_eq!(backup::list(&backups).unwrap().len(), 4);
    assert_eq!(backup::prune(&backups, 2).unwrap(), 2);
    let left = backup::list(&backups).unwrap();
    assert_eq!(left.len(), 2);
    for file in left {
        backup::verify(&backups.join(file.file)).unwrap();
    }
}

#[tokio::test]
async fn outbox_sequences_and_clocks_never_repeat_even_after_the_outbox_empties_and_a_restart() {
    use venuebox_store::replica as sync;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let productions = registry().kind("production");
    store
        .create(productions, body(json!({"id": "p", "name": "Show"})))
        .await
        .unwrap();
    let first = store.read(|conn| sync::unacked(conn, 0, 10)).await.unwrap();
    assert_eq!(first.len(), 1);
    let first_clock = first[0]
        .clocks
        .values()
        .next()
        .and_then(|c| c.as_str())
        .expect("a clock")
        .to_owned();
    // The hub acknowledges it and the pull passes it: the outbox is empty.
    store
        .write(|tx| {
            sync::ack(tx.conn(), &[(1, 10)])?;
            sync::apply_pulled(tx, 0, Vec::new(), 10, None).map(drop)
        })
        .await
        .unwrap();
    assert_eq!(store.read(sync::queue_stats).await.unwrap().queue_length, 0);
    assert_eq!(
        store.read(|c| sync::unacked(c, 0, 10)).await.unwrap().len(),
        0
    );
    store.close();
    drop(store);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let checklist = registry().kind("checklist-item");
    store
        .create(
            checklist,
            body(json!({"productionId": "p", "title": "Next"})),
        )
        .await
        .unwrap();
    let next = store.read(|c| sync::unacked(c, 0, 10)).await.unwrap();
    assert_eq!(next[0].node_seq, 2, "never reuses sequence 1");
    let next_clock = next[0]
        .clocks
        .values()
        .next()
        .and_then(|c| c.as_str())
        .expect("a clock");
    assert!(
        next_clock > first_clock.as_str(),
        "{next_clock} after {first_clock}"
    );
}

#[test]
fn an_upgrade_saves_the_database_first_and_a_failed_migration_leaves_it_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(store.create(
            registry().kind("production"),
            body(json!({"id": "kept", "name": "Kept show"})),
        ))
        .unwrap();
    store.close();
    drop(store);
    // Pretend the database is one version older, in a state the newest migration cannot
    // apply to (its column already exists): the upgrade must fail as a whole.
    let database = dir.path().join(venuebox_store::DATABASE_FILE);
    {
        let conn = rusqlite::Connection::open(&database).unwrap();
        conn.execute_batch(
            "DELETE FROM refinery_schema_history WHERE version = 4; DROP TABLE download_staging;",
        )
        .unwrap();
    }
    let failed = Store::open(dir.path(), StoreOptions::default());
    let err = failed.err().expect("the migration fails");
    assert!(err.to_string().contains("migration"), "{err}");
    let conn = rusqlite::Connection::open(&database).unwrap();
    let staging: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'download_staging'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(staging, 0, "nothing of the failed migration stayed");
    let show: String = conn
        .query_row(
            "SELECT uuid FROM entities WHERE kind = 'production'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(show, "kept");
    let saved = venuebox_store::backup::list(&dir.path().join("backups")).unwrap();
    assert_eq!(
        saved.len(),
        1,
        "a snapshot was taken before migrating: {saved:?}"
    );
}

/// A download staged by the version before V11 (rows as text) cannot be installed by this one
/// (it reads packed bodies): the upgrade drops it, the box has no download in progress, and
/// the next download starts again into the new table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_staged_before_the_packed_form_starts_again_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    store.close();
    drop(store);
    // Put the database back to V10's staging table, holding a download half staged.
    let database = dir.path().join(venuebox_store::DATABASE_FILE);
    {
        let conn = rusqlite::Connection::open(&database).unwrap();
        conn.execute_batch(
            "DELETE FROM refinery_schema_history WHERE version = 11;
             DROP TABLE download_staging;
             CREATE TABLE download_staging (uuid TEXT PRIMARY KEY NOT NULL, kind TEXT NOT NULL,
                 production_id TEXT, data TEXT NOT NULL, clocks TEXT NOT NULL,
                 is_deleted INTEGER, created_at TEXT, label TEXT, clock TEXT) STRICT;
             INSERT INTO download_staging (uuid, kind, production_id, data, clocks, is_deleted)
                 VALUES ('s1', 'source', 'show', '{\"name\":\"A\"}', '{}', 0);
             INSERT INTO meta (key, value) VALUES ('download',
                 '{\"productionId\":\"show\",\"atSeq\":7,\"after\":\"s1\",\"staged\":1}')
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value;",
        )
        .unwrap();
    }
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(store.download_state().await.unwrap(), None);
    let staged: (i64, i64) = store
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT (SELECT count(*) FROM download_staging), \
                 (SELECT count(*) FROM pragma_table_info('download_staging') WHERE name = 'body')",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(
        staged,
        (0, 1),
        "the old rows gone, the packed form in place"
    );
    let state = store.begin_download("show".into(), 9).await.unwrap();
    assert_eq!((state.staged, state.after.as_str()), (0, ""));
}

/// A box run by hand used to leave its folder 0755 and the database, WAL and backups 0644:
/// readable by every account on the machine. Opening makes them the box's alone.
#[tokio::test]
async fn the_data_folder_and_backups_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("left-over.txt"), b"x").unwrap();
    std::fs::set_permissions(
        data.join("left-over.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let store = Store::open(&data, StoreOptions::default()).unwrap();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("left-over.txt")), 0o600);
    let backups = dir.path().join("backups");
    let file =
        venuebox_store::backup::snapshot(&data.join(venuebox_store::DATABASE_FILE), &backups)
            .unwrap();
    assert_eq!(mode(&backups), 0o700);
    assert_eq!(mode(&backups.join(&file.file)), 0o600);
    drop(store);
}

/// A flush that fails fails every write it covered: with the write-ahead log gone from under
/// the box (a card pulled, a folder wiped), a write is refused as unavailable instead of being
/// acknowledged without the disk's word.
#[tokio::test]
async fn a_write_whose_flush_fails_is_not_acknowledged() {
    let (dir, store) = open();
    let productions = registry().kind("production");
    store
        .create(productions, body(json!({"id": "p1", "name": "Show"})))
        .await
        .unwrap();
    std::fs::remove_file(dir.path().join("venuebox.db-wal")).unwrap();
    let refused = store
        .create(productions, body(json!({"id": "p2", "name": "Show"})))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
}

/// A production of `rows` LED screens (an ordered kind: by `sort_order`, ties in creation
/// order), and as many device ports (ordered by an enum, `direction`, then by display id),
/// made in one import; neither order is the order of creation.
async fn production_of_screens(store: &Store, rows: usize) {
    let screens: Vec<Value> = (0..rows)
        .map(|i| json!({"name": format!("Wall {i}"), "sortOrder": (i * 7) % 13}))
        .collect();
    let ports: Vec<Value> = (0..rows)
        .map(|i| {
            json!({"id": format!("port {}", (i * 37) % rows), "deviceUuid": "switcher",
                "portLabel": format!("IN {i}"), "ioType": "SDI",
                "direction": if i % 3 == 0 { "INPUT" } else { "OUTPUT" }})
        })
        .collect();
    store
        .import_production(json!({
            "format": "venuebox.production/1",
            "production": {"id": "big", "name": "Big show"},
            "kinds": {"ledScreen": screens, "devicePort": ports},
        }))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_long_list_is_sent_in_pages_with_every_row_in_the_lists_order() {
    let (_dir, store) = open();
    production_of_screens(&store, 1_000).await;
    for kind in [registry().kind("ledScreen"), registry().kind("devicePort")] {
        let whole = store.list(kind, Some("big".into()), false).await.unwrap();
        assert_eq!(whole.len(), 1_000);

        let mut pages = match store.list_pages(kind, Some("big".into()), false).await {
            Ok(pages) => pages
                .into_complete()
                .expect_err("a thousand rows are not one page"),
            Err(err) => panic!("{err}"),
        };
        let mut text = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = pages.next_chunk().await {
            let chunk = chunk.unwrap();
            assert!(
                chunk.len() < 200 * 1024,
                "a chunk of {} bytes: more than a page",
                chunk.len()
            );
            text.extend(chunk);
            chunks += 1;
        }
        assert!(chunks >= 5, "{chunks} chunks for 1,000 rows");
        let paged: Vec<Value> = serde_json::from_slice(&text).unwrap();
        assert_eq!(
            paged, whole,
            "{}: the same rows in the same order as the list built whole",
            kind.name
        );
    }

    // A list of one page is whole (sent with its length).
    let small = store
        .list_pages(registry().kind("source"), Some("big".into()), false)
        .await
        .unwrap();
    assert_eq!(small.into_complete().ok().unwrap(), b"[]");
}

#[tokio::test]
async fn a_row_changed_while_a_long_list_is_sent_is_sent_as_it_now_is_and_a_deleted_one_not_at_all()
{
    let (_dir, store) = open();
    let screens = registry().kind("ledScreen");
    production_of_screens(&store, 700).await;
    let whole = store
        .list(screens, Some("big".into()), false)
        .await
        .unwrap();
    let mut pages = store
        .list_pages(screens, Some("big".into()), false)
        .await
        .unwrap()
        .into_complete()
        .unwrap_err();
    let mut text = pages.next_chunk().await.unwrap().unwrap();

    // Two rows not yet sent: one renamed, one deleted.
    let (renamed, deleted) = (&whole[500], &whole[600]);
    let uuid = |row: &Value| row["uuid"].as_str().unwrap().to_owned();
    store
        .update(
            screens,
            uuid(renamed),
            body(json!({"name": "Renamed", "version": renamed["version"]})),
        )
        .await
        .unwrap();
    store
        .delete(screens, uuid(deleted), venuebox_store::Actor::default())
        .await
        .unwrap();
    while let Some(chunk) = pages.next_chunk().await {
        text.extend(chunk.unwrap());
    }
    let paged: Vec<Value> = serde_json::from_slice(&text).expect("still one JSON array");
    assert_eq!(paged.len(), 699);
    let names: Vec<&str> = paged.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names.iter().filter(|n| **n == "Renamed").count(), 1);
    assert!(!paged.iter().any(|row| row["uuid"] == deleted["uuid"]));
    // Everything else as listed before, in the same order.
    let expected: Vec<&Value> = whole
        .iter()
        .filter(|r| r["uuid"] != deleted["uuid"])
        .collect();
    for (got, want) in paged.iter().zip(expected) {
        assert_eq!(got["uuid"], want["uuid"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_run_beside_the_writer_and_the_log_stays_bounded() {
    let (dir, store) = open();
    let productions = registry().kind("production");
    let checklist = registry().kind("checklist-item");
    store
        .create(productions, body(json!({"id": "p", "name": "Show"})))
        .await
        .unwrap();
    let database = dir.path().join("venuebox.db");
    let wal = dir.path().join("venuebox.db-wal");
    let size = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let frame = 4096 + 24;
    // Creates in rounds of 50 (one or two commits a round): about four log pages each.
    let create = |rounds: usize| {
        let store = store.clone();
        async move {
            for n in 0..rounds {
                let writes = (0..50).map(|i| {
                    store.create(
                        checklist,
                        body(json!({"productionId": "p", "title": format!("item {n}-{i}")})),
                    )
                });
                for done in futures_util::future::join_all(writes).await {
                    done.unwrap();
                }
            }
        }
    };
    let before = size(&database);
    // Past the checkpoint threshold (1,000 pages), short of the writer's own (4,000).
    create(25).await;
    let mut grew = false;
    for _ in 0..50 {
        if size(&database) > before {
            grew = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(grew, "the checkpointer copied the log into the database");
    // A steady stream far past the writer's own threshold: the log does not grow without
    // bound (the writer checkpoints itself at 4,000 pages and the log starts again).
    create(120).await;
    assert!(
        size(&wal) <= 5_000 * frame,
        "write-ahead log of {} pages",
        size(&wal) / frame
    );
    let rows = store
        .read(|conn| {
            let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            assert_eq!(check, "ok");
            Ok(conn.query_row(
                "SELECT count(*) FROM entities WHERE kind = 'checklist-item'",
                [],
                |r| r.get::<_, i64>(0),
            )?)
        })
        .await
        .unwrap();
    assert!(rows > 1_000);
}

/// One commit larger than the writer's own checkpoint threshold (a download's install) is
/// left to the checkpointer, which copies it; the writes after it still keep the log bounded
/// (by that commit plus the threshold) and the database whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_larger_than_the_backstop_is_checkpointed_and_the_log_stays_bounded() {
    let (dir, store) = open();
    let database = dir.path().join("venuebox.db");
    let wal = dir.path().join("venuebox.db-wal");
    let size = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let frame = 4096 + 24;
    let before = size(&database);
    // ~6,000 pages in one write: 12,000 staged rows of 2 KB.
    store
        .write(|tx| {
            let mut insert = tx.conn().prepare(
                "INSERT INTO download_staging (uuid, kind, production_id, body, data_len) \
                 VALUES (?1, 'checklist-item', 'p', randomblob(2000), 0)",
            )?;
            for n in 0..12_000 {
                insert.execute([format!("u{n:05}")])?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let big = size(&wal) / frame;
    assert!(big > 5_000, "the write made {big} log pages");
    let mut copied = false;
    for _ in 0..100 {
        if size(&database) > before + 5_000 * 4096 {
            copied = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        copied,
        "the checkpointer copied the large commit into the database"
    );
    // A steady stream of small writes after it, 50 at a time (the load under which passive
    // checkpoints beside the writer never catch up with the log's end).
    let productions = registry().kind("production");
    for round in 0..120 {
        let writes = (0..50).map(|i| {
            store.create(
                productions,
                body(json!({"id": format!("p{round}-{i}"), "name": "Show"})),
            )
        });
        for done in futures_util::future::join_all(writes).await {
            done.unwrap();
        }
    }
    assert!(
        size(&wal) <= (big + 5_000) * frame,
        "write-ahead log of {} pages after a commit of {big}",
        size(&wal) / frame
    );
    store
        .read(|conn| {
            let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            assert_eq!(check, "ok");
            Ok(())
        })
        .await
        .unwrap();
}

/// Readers are opened as concurrent reads need them, up to the limit: four reads that each
/// wait for the others all run at once (each on its own connection, three of them opened on
/// demand), and sixteen reads never have more than four in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_open_on_demand_up_to_the_limit() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions { readers: 4 }).unwrap();

    // Each read waits (at most 10 s, so a broken pool fails rather than hangs) until all four
    // are running.
    let arrived = Arc::new(AtomicUsize::new(0));
    let together = (0..4).map(|_| {
        let store = store.clone();
        let arrived = arrived.clone();
        async move {
            store
                .read(move |conn| {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
                    while arrived.load(Ordering::SeqCst) < 4 && std::time::Instant::now() < until {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    let count: i64 =
                        conn.query_row("SELECT count(*) FROM entities", [], |r| r.get(0))?;
                    Ok((arrived.load(Ordering::SeqCst), count))
                })
                .await
        }
    });
    for read in futures_util::future::join_all(together).await {
        let (running, count) = read.unwrap();
        assert_eq!(running, 4, "four reads ran at once");
        assert!(count > 0);
    }

    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let reads = (0..16).map(|_| {
        let store = store.clone();
        let (in_flight, most) = (in_flight.clone(), most.clone());
        async move {
            store
                .read(move |_| {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
                .await
        }
    });
    for read in futures_util::future::join_all(reads).await {
        read.unwrap();
    }
    assert!(most.load(Ordering::SeqCst) <= 4, "{most:?} reads at once");
}

/// Display ids come from counters kept in the writer's memory (no row updated per create):
/// a label is never handed out twice by this box — not past a label a client chose, not
/// after a hard delete of the highest one, not after a restart, not after a write that took a
/// number and was refused.
#[tokio::test]
async fn a_display_id_is_never_handed_out_twice_across_deletes_refusals_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let productions = registry().kind("production");
    let checklist = registry().kind("checklist-item");
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    store
        .create(productions, body(json!({"id": "p", "name": "Show"})))
        .await
        .unwrap();
    let create = |store: &Store, fields: Value| {
        let store = store.clone();
        let mut fields = body(fields);
        fields.insert("productionId".into(), json!("p"));
        async move { store.create(checklist, fields).await.unwrap() }
    };
    let label = |row: &Value| row["id"].as_str().unwrap().to_owned();
    // Creates an item without a label: the label it was given.
    let next_label = |store: &Store| {
        let made = create(store, json!({"title": "no label given"}));
        async move { label(&made.await) }
    };
    // The process ends and starts again on the same files.
    let restart = |store: Store| {
        store.close();
        drop(store);
        Store::open(dir.path(), StoreOptions::default()).unwrap()
    };
    let first = create(&store, json!({"title": "a"})).await;
    let prefix = label(&first).split(' ').next().unwrap().to_owned();
    let numbered = |n: i64| format!("{prefix} {n}");
    assert_eq!(label(&first), numbered(1));
    // A label the client chose moves the counter past it.
    create(&store, json!({"title": "b", "id": numbered(7)})).await;
    assert_eq!(next_label(&store).await, numbered(8));
    // A write that took a number and was refused leaves a gap, not a duplicate.
    let refused = store
        .write(move |tx| {
            let decoded = venuebox_store::codec::decode_body(
                checklist,
                body(json!({"productionId": "p", "title": "refused"})),
            )?;
            venuebox_store::entities::create(tx, checklist, decoded, Default::default())?;
            Err::<(), _>(StoreError::BadRequest("refused".into()))
        })
        .await;
    assert!(refused.is_err());
    let after_refusal = create(&store, json!({"title": "d"})).await;
    assert_eq!(label(&after_refusal), numbered(10));
    // The highest label goes for good (checklist items are deleted, not archived).
    store
        .delete(
            checklist,
            after_refusal["uuid"].as_str().unwrap().to_owned(),
            venuebox_store::Actor::default(),
        )
        .await
        .unwrap();

    // After a restart the counter is rebuilt from the rows and the floor the delete left.
    let store = restart(store);
    assert_eq!(next_label(&store).await, numbered(11));
    // An edit that gives a row a higher label moves the counter too.
    let edited = create(&store, json!({"title": "f"})).await;
    assert_eq!(label(&edited), numbered(12));
    store
        .update(
            checklist,
            edited["uuid"].as_str().unwrap().to_owned(),
            body(json!({"id": numbered(40), "version": edited["version"]})),
        )
        .await
        .unwrap();
    assert_eq!(next_label(&store).await, numbered(41));
    let store = restart(store);
    assert_eq!(next_label(&store).await, numbered(42));
    let labels: Vec<String> = store
        .list(checklist, Some("p".into()), false)
        .await
        .unwrap()
        .iter()
        .map(label)
        .collect();
    let distinct: std::collections::HashSet<_> = labels.iter().collect();
    assert_eq!(distinct.len(), labels.len(), "{labels:?}");
}
