//! Integration tests of the API crate: a real server on port 0 over a real SQLite file.
mod auth;
mod bad_input;
mod console;
mod durability;
mod families;
mod global;
mod heartbeat;
mod helpers;
mod limits;
mod other_sites;
mod productions;
mod quirks;
mod sync;
mod workbook;
