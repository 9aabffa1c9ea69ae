//! The Venuebox HTTP API: the crew app's REST contract over the registry-driven store.
//!
//! * [`startup`]: [`create_app`] (shared by `main` and the tests) and [`Application`].
//! * [`routes`]: the route table, generated from the entity registry.
//! * [`error`]: [`ApiError`], the one error type, with stable JSON error codes.
//! * [`config`]: configuration loading and its documented defaults.
pub mod app_install;
pub mod auth;
pub mod box_settings;
pub mod config;
pub mod connections;
pub mod error;
pub mod extract;
pub mod log_tail;
pub mod metrics;
pub mod openapi;
pub mod pages;
mod request_log;
pub mod routes;
pub mod setup;
pub mod startup;
pub mod sync_slot;
pub mod tls;
pub mod ui;
pub mod xlsx;

pub use config::Config;
pub use error::ApiError;
pub use startup::{AppState, Application, StartupError, StopHandle, create_app};
