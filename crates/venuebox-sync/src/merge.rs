//! The per-field merge, the one place a concurrent edit is decided. Pure functions: the hub
//! calls them inside its push transaction; the property tests call them directly.
//!
//! * A field's state is `(value, clock)`; the merge keeps the larger by clock, then (only for
//!   identical clocks, which one node never issues twice) by the value's JSON text. That is a
//!   join on a total order, so it is commutative, associative and idempotent.
//! * Whether the loser is *logged* depends on causality, not on the clocks: a change whose
//!   writer had seen the current value (`base` equals the current clock) or that follows its
//!   own node's earlier change replaces it silently; anything else is concurrent and the value
//!   that lost (either side) goes to the conflict log.
//! * Clocks more than the hub's drift allowance ahead of the hub's own clock are restamped at
//!   the hub's time on arrival, so a box whose clock runs days fast cannot win every conflict
//!   (and its clock never spreads to other nodes, which only see the hub's clocks).
use std::cmp::Ordering;

use serde_json::Value;
use venuebox_store::hlc::Hlc;

/// Orders two field states: clock first, then the value's JSON text for exact clock ties.
pub fn compare(a_value: &Value, a_clock: &str, b_value: &Value, b_clock: &str) -> Ordering {
    a_clock
        .cmp(b_clock)
        .then_with(|| a_value.to_string().cmp(&b_value.to_string()))
}

/// The merged state of a field: the larger of the two.
pub fn join<'a>(a: (&'a Value, &'a str), b: (&'a Value, &'a str)) -> (&'a Value, &'a str) {
    if compare(a.0, a.1, b.0, b.1) == Ordering::Less {
        b
    } else {
        a
    }
}

/// Did the writer of a change with `base` (the clock it replaced, as it saw it), made on
/// `incoming_node`, not know the value currently held with `current_clock`?
pub fn is_concurrent(base: &str, current_clock: &str, incoming_node: &str) -> bool {
    if current_clock.is_empty() || base == current_clock {
        return false;
    }
    Hlc::node_of(current_clock).as_deref() != Some(incoming_node)
}

/// The clock a change is stored with at the hub: its own, unless it is more than `drift_ms`
/// ahead of `hub_now_ms`; then the hub's time, just after the field's current clock.
pub fn admit_clock(incoming: &str, current_clock: &str, hub_now_ms: i64, drift_ms: i64) -> String {
    let Some(clock) = Hlc::parse(incoming) else {
        return incoming.to_owned();
    };
    if clock.ms <= hub_now_ms.saturating_add(drift_ms) {
        return incoming.to_owned();
    }
    let floor = Hlc {
        ms: hub_now_ms,
        counter: 0,
        node: String::new(),
    };
    let after = Hlc::parse(current_clock)
        .filter(|current| *current > floor)
        .unwrap_or(floor);
    after.successor(hub_now_ms, &clock.node).to_string()
}

/// What happens to one incoming field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldOutcome {
    /// The incoming value becomes current; `overwritten` is the concurrent value it replaced.
    Applied {
        overwritten: Option<(Value, String)>,
    },
    /// The current value stays; the incoming one lost a concurrent race (log it).
    Lost,
    /// Already there (the same change arriving again).
    Unchanged,
}

pub fn merge_field(
    current: Option<(&Value, &str)>,
    incoming: (&Value, &str),
    base: &str,
    incoming_node: &str,
) -> FieldOutcome {
    let (current_value, current_clock) = current.unwrap_or((&Value::Null, ""));
    let ordering = compare(incoming.0, incoming.1, current_value, current_clock);
    let concurrent = is_concurrent(base, current_clock, incoming_node);
    match ordering {
        Ordering::Equal => FieldOutcome::Unchanged,
        Ordering::Greater => FieldOutcome::Applied {
            overwritten: concurrent.then(|| (current_value.clone(), current_clock.to_owned())),
        },
        Ordering::Less => FieldOutcome::Lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

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

    fn j(a: &(Value, String), b: &(Value, String)) -> (Value, String) {
        let (v, c) = join((&a.0, &a.1), (&b.0, &b.1));
        (v.clone(), c.to_owned())
    }

    proptest! {
        #[test]
        fn join_is_commutative(a in state(), b in state()) {
            prop_assert_eq!(j(&a, &b), j(&b, &a));
        }

        #[test]
        fn join_is_associative(a in state(), b in state(), c in state()) {
            prop_assert_eq!(j(&j(&a, &b), &c), j(&a, &j(&b, &c)));
        }

        #[test]
        fn join_is_idempotent(a in state(), b in state()) {
            prop_assert_eq!(j(&a, &a), a.clone());
            prop_assert_eq!(j(&j(&a, &b), &b), j(&a, &b));
        }

        #[test]
        fn any_order_of_the_same_changes_ends_in_the_same_state(
            changes in proptest::collection::vec(state(), 1..8),
            seed in any::<u64>(),
        ) {
            let fold = |list: &[(Value, String)]| {
                let mut current: Option<(Value, String)> = None;
                for change in list {
                    let outcome = merge_field(
                        current.as_ref().map(|(v, c)| (v, c.as_str())),
                        (&change.0, &change.1),
                        "",
                        "x",
                    );
                    if let FieldOutcome::Applied { .. } = outcome {
                        current = Some(change.clone());
                    }
                }
                current
            };
            let mut shuffled = changes.clone();
            // A cheap deterministic shuffle, plus duplicates.
            let len = shuffled.len();
            for i in 0..len {
                let j = (seed.rotate_left(i as u32) as usize) % len;
                shuffled.swap(i, j);
            }
            shuffled.extend(changes.iter().take(2).cloned());
            prop_assert_eq!(fold(&changes), fold(&shuffled));
        }
    }

    #[test]
    fn a_change_made_after_seeing_the_current_value_is_not_a_conflict() {
        let current = (json!("old"), clock(1_000, 0, "a"));
        let outcome = merge_field(
            Some((&current.0, &current.1)),
            (&json!("new"), &clock(1_001, 0, "b")),
            &current.1,
            "b",
        );
        assert_eq!(outcome, FieldOutcome::Applied { overwritten: None });
    }

    #[test]
    fn concurrent_changes_log_the_loser_whichever_side_it_is() {
        let current = (json!("office"), clock(2_000, 0, "a"));
        let newer = merge_field(
            Some((&current.0, &current.1)),
            (&json!("venue"), &clock(3_000, 0, "b")),
            "",
            "b",
        );
        assert_eq!(
            newer,
            FieldOutcome::Applied {
                overwritten: Some((json!("office"), current.1.clone()))
            }
        );
        let older = merge_field(
            Some((&current.0, &current.1)),
            (&json!("venue"), &clock(1_000, 0, "b")),
            "",
            "b",
        );
        assert_eq!(older, FieldOutcome::Lost);
    }

    #[test]
    fn a_node_never_conflicts_with_itself() {
        assert!(!is_concurrent("", &clock(1, 0, "a"), "a"));
        assert!(is_concurrent("", &clock(1, 0, "a"), "b"));
        assert!(!is_concurrent("", "", "b"));
    }

    #[test]
    fn clocks_far_ahead_are_restamped_at_hub_time_after_the_current_clock() {
        let day = 86_400_000;
        let hub_now = 10 * day;
        let fast = clock(hub_now + day, 0, "fast");
        let admitted = admit_clock(&fast, "", hub_now, 300_000);
        assert_eq!(admitted, clock(hub_now, 1, "fast"));
        let current = clock(hub_now + 1_000, 4, "other");
        let admitted = admit_clock(&fast, &current, hub_now, 300_000);
        assert_eq!(admitted, clock(hub_now + 1_000, 5, "fast"));
        let fine = clock(hub_now + 299_000, 0, "ok");
        assert_eq!(admit_clock(&fine, "", hub_now, 300_000), fine);
    }
}
