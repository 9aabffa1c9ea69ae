//! The per-field merge is SQL on the hub (`venuebox_compare`, `venuebox_concurrent`,
//! `venuebox_admit` in the hub's migrations). Its algebra is checked here, on those functions
//! in a real PostgreSQL: the join of two field states is commutative, associative and
//! idempotent, so any order of the same changes (with duplicates) ends the same.
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use tokio_postgres::types::Json;
use venuebox_store::hlc::Hlc;

use crate::harness::TestHub;

fn clock(ms: i64, counter: u16, node: &str) -> String {
    Hlc {
        ms,
        counter,
        node: node.into(),
    }
    .to_string()
}

fn state() -> impl Strategy<Value = (Value, String)> {
    (
        prop_oneof![
            Just(json!(null)),
            (0i64..4).prop_map(Value::from),
            "[ab]{0,2}".prop_map(Value::from)
        ],
        // Few distinct clocks, so exact ties (same clock, different value) come up often.
        (0i64..3, 0u16..2, prop_oneof![Just("a"), Just("b")]),
    )
        .prop_map(|(value, (ms, counter, node))| (value, clock(1_000 + ms, counter, node)))
}

/// The hub's functions, on a database of their own.
struct Sql {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    _hub: TestHub,
}

impl Sql {
    fn new() -> Sql {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (hub, client) = runtime.block_on(async {
            let hub = TestHub::new().await;
            let connected = venuebox_sync::HubTarget::new(&hub.url, None)
                .unwrap()
                .connect()
                .await
                .unwrap();
            drop(connected);
            let client = hub.client().await;
            (hub, client)
        });
        Sql {
            runtime,
            client,
            _hub: hub,
        }
    }

    /// 1 when `a` wins over `b`, -1 when `b` wins, 0 for the same state.
    fn compare(&self, a: &(Value, String), b: &(Value, String)) -> i32 {
        self.runtime.block_on(async {
            self.client
                .query_one(
                    "SELECT venuebox_compare($1, $2, $3, $4)",
                    &[&Json(&a.0), &a.1, &Json(&b.0), &b.1],
                )
                .await
                .unwrap()
                .get(0)
        })
    }

    fn join(&self, a: &(Value, String), b: &(Value, String)) -> (Value, String) {
        if self.compare(a, b) < 0 {
            b.clone()
        } else {
            a.clone()
        }
    }

    fn text(&self, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> String {
        self.runtime
            .block_on(self.client.query_one(sql, params))
            .unwrap()
            .get(0)
    }

    fn flag(&self, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> bool {
        self.runtime
            .block_on(self.client.query_one(sql, params))
            .unwrap()
            .get(0)
    }
}

#[test]
fn the_hubs_join_is_commutative_associative_and_idempotent() {
    let sql = Sql::new();
    let mut runner = TestRunner::new(ProptestConfig::with_cases(200));
    runner
        .run(&(state(), state(), state()), |(a, b, c)| {
            prop_assert_eq!(sql.join(&a, &b), sql.join(&b, &a));
            prop_assert_eq!(
                sql.join(&sql.join(&a, &b), &c),
                sql.join(&a, &sql.join(&b, &c))
            );
            prop_assert_eq!(sql.join(&a, &a), a.clone());
            prop_assert_eq!(sql.join(&sql.join(&a, &b), &b), sql.join(&a, &b));
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_order_of_the_same_changes_ends_in_the_same_state_at_the_hub() {
    let sql = Sql::new();
    let mut runner = TestRunner::new(ProptestConfig::with_cases(100));
    runner
        .run(
            &(proptest::collection::vec(state(), 1..8), any::<u64>()),
            |(changes, seed)| {
                // The hub applies an incoming state only when it wins over the current one.
                let fold = |list: &[(Value, String)]| {
                    let mut current: Option<(Value, String)> = None;
                    for change in list {
                        let wins = match &current {
                            None => true,
                            Some(held) => sql.compare(change, held) > 0,
                        };
                        if wins {
                            current = Some(change.clone());
                        }
                    }
                    current
                };
                let mut shuffled = changes.clone();
                let len = shuffled.len();
                for i in 0..len {
                    let j = (seed.rotate_left(i as u32) as usize) % len;
                    shuffled.swap(i, j);
                }
                shuffled.extend(changes.iter().take(2).cloned());
                prop_assert_eq!(fold(&changes), fold(&shuffled));
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn concurrency_and_clock_admission_at_the_hub() {
    let sql = Sql::new();
    let concurrent = |base: &str, current: &str, node: &str| {
        sql.flag(
            "SELECT venuebox_concurrent($1, $2, $3)",
            &[&base, &current, &node],
        )
    };
    // A change made after seeing the current value, or by the node that wrote it, is not
    // concurrent; one that saw something else is.
    let current = clock(1_000, 0, "a");
    assert!(!concurrent(&current, &current, "b"));
    assert!(!concurrent("", &current, "a"));
    assert!(concurrent("", &current, "b"));
    assert!(concurrent(&clock(900, 0, "b"), &current, "b"));
    assert!(!concurrent("", "", "b"));
    // A clock far ahead is restamped at the hub's time, after the field's current clock.
    let admit = |incoming: &str, current: &str, now: i64| {
        sql.text(
            "SELECT venuebox_admit($1, $2, $3, 300000)",
            &[&incoming, &current, &now],
        )
    };
    let day = 86_400_000i64;
    let hub_now = 10 * day;
    let fast = clock(hub_now + day, 0, "fast");
    assert_eq!(admit(&fast, "", hub_now), clock(hub_now, 1, "fast"));
    let held = clock(hub_now + 1_000, 4, "other");
    assert_eq!(
        admit(&fast, &held, hub_now),
        clock(hub_now + 1_000, 5, "fast")
    );
    let fine = clock(hub_now + 299_000, 0, "ok");
    assert_eq!(admit(&fine, "", hub_now), fine);
    // Clocks that do not parse are told apart (the hub refuses them).
    assert!(sql.flag("SELECT venuebox_clock_valid($1)", &[&fine]));
    for broken in [
        "",
        "9999999999999-zzzz-x",
        "123-0000-a",
        "0000000001000-0000-",
    ] {
        assert!(
            !sql.flag("SELECT venuebox_clock_valid($1)", &[&broken]),
            "{broken:?}"
        );
    }
}

/// The push's clock check (`venuebox_clocks_valid`) checks one value when an entry's clocks
/// are all the same string, and every value otherwise: the verdict must be the same as
/// checking every value, whichever way it goes.
#[test]
fn an_entrys_clocks_are_refused_if_any_of_them_does_not_parse() {
    let sql = Sql::new();
    let valid = |clocks: Value| {
        sql.flag(
            "SELECT venuebox_clocks_valid($1::text::jsonb)",
            &[&clocks.to_string()],
        )
    };
    let good = clock(1_796_400_767_767, 0, "aec4646a-9bb3-4d84-be15-c3176444e87a");
    let other = clock(1_796_400_767_768, 3, "b");
    assert!(valid(json!({})));
    assert!(valid(json!({"a": good, "b": good, "c": good})));
    assert!(valid(json!({"a": good, "b": other})));
    for bad in [
        json!("9999999999999-zzzz"),
        json!(""),
        json!(5),
        json!(null),
        json!([good]),
        json!(format!("1796400767767-0000-\n")),
    ] {
        assert!(!valid(json!({"a": bad})), "{bad}");
        assert!(!valid(json!({"a": bad, "b": bad})), "{bad} twice");
        assert!(
            !valid(json!({"a": good, "b": bad})),
            "{bad} after a good one"
        );
        assert!(
            !valid(json!({"a": bad, "b": good, "c": good})),
            "{bad} first"
        );
    }
    assert!(!valid(json!([good])), "clocks that are not an object");
    assert!(!valid(json!(good)), "clocks that are not an object");
}
