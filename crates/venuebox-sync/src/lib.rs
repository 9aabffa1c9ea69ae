//! Venuebox sync: every node's changes reach the PostgreSQL hub exactly once, and every
//! node converges on the hub's state.
//!
//! * [`merge`]: the per-field merge (last writer wins by hybrid logical clock, losers kept).
//! * [`hub`]: the hub's schema (refinery migrations) and its push / pull transactions.
//! * [`engine`]: the node's loop (push, pull, LISTEN/NOTIFY, backoff, status).
//! * [`download`]: the pre-show download of a whole production, and production locks.
//!
//! The node's own bookkeeping (outbox, clocks, applying pulled changes) lives with the data
//! in `venuebox_store::sync`, so it shares the write transaction.
pub mod download;
pub mod engine;
pub mod error;
pub mod hub;
pub mod merge;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use engine::{RoundReport, ScopeMode, SyncEngine, SyncSettings, SyncStatus};
pub use error::{Result, SyncError};
pub use hub::{HubTarget, PullScope};
