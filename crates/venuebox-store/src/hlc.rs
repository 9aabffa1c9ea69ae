//! Hybrid logical clocks (Kulkarni et al.): wall-clock milliseconds, a counter for events in
//! the same millisecond (or while the wall clock stands still or runs backwards), and the node
//! id as the final tie-breaker. Every field change carries one.
//!
//! The text form `"{ms:013}-{counter:04x}-{node}"` sorts like the clock itself, so SQLite,
//! PostgreSQL and Rust compare clocks the same way. The empty string is the zero clock: the
//! value a seeded row has before anyone changed it.
use std::cmp::Ordering;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};

use crate::clock;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hlc {
    pub ms: i64,
    pub counter: u16,
    pub node: String,
}

impl Ord for Hlc {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.ms, self.counter, &self.node).cmp(&(other.ms, other.counter, &other.node))
    }
}

impl PartialOrd for Hlc {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:013}-{:04x}-{}", self.ms, self.counter, self.node)
    }
}

impl Hlc {
    /// Parses the text form; `None` for the zero clock (`""`) or anything malformed.
    pub fn parse(text: &str) -> Option<Hlc> {
        let mut parts = text.splitn(3, '-');
        let ms = parts.next()?;
        let counter = parts.next()?;
        let node = parts.next()?;
        if ms.len() != 13 || counter.len() != 4 || node.is_empty() {
            return None;
        }
        Some(Hlc {
            ms: ms.parse().ok()?,
            counter: u16::from_str_radix(counter, 16).ok()?,
            node: node.to_owned(),
        })
    }

    /// The node that made a change, from its clock text.
    pub fn node_of(text: &str) -> Option<String> {
        Hlc::parse(text).map(|h| h.node)
    }

    /// The smallest clock of `node` strictly after `self` and not before `floor_ms`.
    pub fn successor(&self, floor_ms: i64, node: &str) -> Hlc {
        if floor_ms > self.ms {
            Hlc {
                ms: floor_ms,
                counter: 0,
                node: node.to_owned(),
            }
        } else if self.counter == u16::MAX {
            Hlc {
                ms: self.ms + 1,
                counter: 0,
                node: node.to_owned(),
            }
        } else {
            Hlc {
                ms: self.ms,
                counter: self.counter + 1,
                node: node.to_owned(),
            }
        }
    }
}

/// A node's clock. `tick` stamps a local change; `observe` folds in clocks seen from others,
/// so a change made after seeing another is always stamped after it, even when this node's
/// wall clock is behind.
#[derive(Debug)]
pub struct HlcClock {
    node: String,
    last: Mutex<(i64, u16)>,
    /// Added to the wall clock: lets tests give one node a skewed clock.
    skew_ms: AtomicI64,
}

impl HlcClock {
    /// `floor` is the last clock this node issued or saw (persisted), so a restart with a wall
    /// clock that went backwards still never issues an older clock.
    pub fn new(node: &str, floor: Option<&str>) -> HlcClock {
        let last = floor
            .and_then(Hlc::parse)
            .map(|h| (h.ms, h.counter))
            .unwrap_or((0, 0));
        HlcClock {
            node: node.to_owned(),
            last: Mutex::new(last),
            skew_ms: AtomicI64::new(0),
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Shifts this node's wall clock (tests and simulations of a box with a wrong clock).
    pub fn set_skew_ms(&self, skew: i64) {
        self.skew_ms.store(skew, AtomicOrdering::Relaxed);
    }

    /// This node's idea of the current time in milliseconds.
    pub fn wall_ms(&self) -> i64 {
        clock::now_ms() + self.skew_ms.load(AtomicOrdering::Relaxed)
    }

    pub fn tick(&self) -> Hlc {
        let wall = self.wall_ms();
        let mut last = self.last.lock().expect("clock lock");
        let previous = Hlc {
            ms: last.0,
            counter: last.1,
            node: String::new(),
        };
        let next = previous.successor(wall, &self.node);
        *last = (next.ms, next.counter);
        next
    }

    pub fn observe(&self, seen: &Hlc) {
        let mut last = self.last.lock().expect("clock lock");
        if (seen.ms, seen.counter) > *last {
            *last = (seen.ms, seen.counter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_sorts_like_the_clock() {
        let a = Hlc {
            ms: 999,
            counter: 0xffff,
            node: "b".into(),
        };
        let b = Hlc {
            ms: 1000,
            counter: 0,
            node: "a".into(),
        };
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        assert_eq!(Hlc::parse(&a.to_string()), Some(a));
        assert_eq!(Hlc::parse(""), None);
    }

    #[test]
    fn ticks_never_go_backwards_even_when_the_wall_clock_does() {
        let clock = HlcClock::new("n", None);
        let first = clock.tick();
        clock.set_skew_ms(-86_400_000);
        let second = clock.tick();
        assert!(second > first);
        clock.observe(&Hlc {
            ms: first.ms + 5_000,
            counter: 7,
            node: "other".into(),
        });
        let third = clock.tick();
        assert_eq!((third.ms, third.counter), (first.ms + 5_000, 8));
    }

    #[test]
    fn a_floor_survives_restarts() {
        let far = Hlc {
            ms: clock::now_ms() + 60_000,
            counter: 3,
            node: "n".into(),
        };
        let clock = HlcClock::new("n", Some(&far.to_string()));
        assert!(clock.tick() > far);
    }
}
