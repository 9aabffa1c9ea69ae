//! The route table. Every kind of the registry gets its routes from [`entities`] through
//! one loop; the handful of non-CRUD endpoints (settings lists, device-port sync, cables by
//! port, health and server info) are in their own modules.
//!
//! Every route is served under `/api` and, because the crew app sometimes drops the prefix
//! after switching servers (docs/contract.md §1.1), at the root too.
pub mod admin;
pub mod backups;
pub mod console;
pub mod entities;
pub mod ports;
pub mod server;
pub mod settings;
pub mod sync;
pub mod transfer;

use actix_web::web;
use venuebox_store::registry;

/// Which kind a generic handler serves: the registry's kind for the `{family}` segment the
/// router matched (the route's pattern admits only the registry's families, so the lookup
/// cannot miss for a request that reached a handler).
#[derive(Clone, Copy)]
pub struct KindRef(pub &'static venuebox_store::KindDef);

impl actix_web::FromRequest for KindRef {
    type Error = crate::error::ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let kind = req
            .match_info()
            .get("family")
            .and_then(|family| registry().by_family(family))
            .map(KindRef)
            .ok_or(crate::error::ApiError::RouteNotFound);
        std::future::ready(kind)
    }
}

/// The kinds served by the generic family routes (also what the OpenAPI document describes);
/// the settings lists and the key/value store have routes of their own.
pub fn served_kinds() -> impl Iterator<Item = &'static venuebox_store::KindDef> {
    registry().family_kinds()
}

/// Registers the API. `prefixed` is true for the `/api` copy, false for the root aliases.
///
/// The family routes come last: a family's pattern would take the other routes under a
/// family's name that have a family shape (`POST /productions/import` is a row's path), and
/// actix serves the first resource whose pattern matches.
pub fn configure(cfg: &mut web::ServiceConfig, prefixed: bool) {
    server::configure(cfg, prefixed);
    admin::configure(cfg);
    backups::configure(cfg);
    console::configure(cfg);
    sync::configure(cfg);
    transfer::configure(cfg);
    settings::configure(cfg);
    ports::configure(cfg);
    entities::configure(cfg);
}
