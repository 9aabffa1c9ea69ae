//! Venuebox sync: every node's changes reach the PostgreSQL hub exactly once, and every
//! node converges on the hub's state.
//!
//! * [`hub`]: the hub's schema (refinery migrations; the per-field merge is SQL there) and the
//!   protocol: hello, push, pull, the download's snapshot and the production lock.
//! * [`engine`]: the node's loop (push, pull, LISTEN/NOTIFY, backoff, status).
//! * [`download`]: the pre-show download of a whole production, and production locks.
//!
//! The node's own bookkeeping (outbox, clocks, applying pulled changes) lives with the data
//! in `venuebox_store::replica`, so it shares the write transaction.
pub mod download;
pub mod engine;
pub mod error;
pub mod hub;
pub mod progress;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use engine::{RoundReport, ScopeMode, SyncEngine, SyncSettings, SyncStatus};
pub use error::{Result, SyncError};
pub use hub::{HubProbe, HubTarget, PullScope};
