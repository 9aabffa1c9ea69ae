//! CRUD for any kind of the registry.
//!
//! Per-production kinds: `GET /<family>/production/:productionId`, `POST /<family>` (body
//! carries `productionId`), `GET|PUT|DELETE /<family>/:uuid`. Global kinds (productions,
//! formats, equipment): `GET /<family>` (`?archived=true` lists the deleted ones),
//! `POST /<family>`, `GET|PUT|DELETE /<family>/:key`.
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use venuebox_store::registry::{KeyStyle, Scope};
use venuebox_store::{Actor, JsonPages, Store, StoreError};

use super::KindRef;
use crate::auth::Role;
use crate::auth::gate::{needs, viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonObject;

/// Registers every family of the registry on five resources, whose `{family}` segment admits
/// exactly the families of one route shape. One resource per shape, not one scope per family:
/// actix compiles every pattern with a parameter into a regex and keeps two copies of each
/// per worker, and the ~90 per-family patterns (twice, with the root aliases) were about a third
/// of an idle box's heap (massif, issue #17).
///
/// Show data is read by viewers and written by the crew. The shared library (equipment
/// specs, formats) is added to and edited by the crew too, because the app's own screens do
/// that on site (a 403 there left a new spec on one laptop only, with the crew believing it
/// saved); removing a library entry, which every show draws on, is the admin's, so library
/// families have a resource of their own and its DELETE gate needs an admin.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let families = |pick: &dyn Fn(&venuebox_store::KindDef) -> bool| {
        let alternatives: Vec<String> = super::served_kinds()
            .filter(|kind| pick(kind))
            .flat_map(|kind| kind.families())
            .map(regex_escape)
            .collect();
        (!alternatives.is_empty()).then(|| format!("{{family:(?:{})}}", alternatives.join("|")))
    };
    let in_production = families(&|k| k.scope == Scope::Production);
    let global = families(&|k| k.scope == Scope::Global);
    let shared = families(&|k| !k.library);
    let library = families(&|k| k.library);
    // Resources (not bare routes) so a known path with the wrong method answers 405. Rows
    // first (gets, updates and deletes are most of the traffic); `/{family}/production` (a
    // key named `production`) has two segments and the production list three, so the order
    // of the shapes decides nothing else.
    for (family, deletes) in [(&shared, Role::Editor), (&library, Role::Admin)] {
        if let Some(family) = family {
            cfg.service(
                web::resource(format!("/{family}/{{key}}"))
                    .route(viewer(web::get().to(get_one)))
                    .route(needs(Role::Editor, web::put().to(update)))
                    .route(needs(deletes, web::delete().to(delete))),
            );
        }
    }
    if let Some(family) = &in_production {
        cfg.service(
            web::resource(format!("/{family}/production/{{production_id}}"))
                .route(viewer(web::get().to(list_in_production))),
        )
        .service(
            web::resource(format!("/{family}")).route(needs(Role::Editor, web::post().to(create))),
        );
    }
    if let Some(family) = &global {
        cfg.service(
            web::resource(format!("/{family}"))
                .route(needs(Role::Editor, web::post().to(create)))
                .route(viewer(web::get().to(list_global))),
        );
    }
}

/// A family name as a literal in a route pattern (they are `[a-z-]` today; this keeps a
/// future name with a regex metacharacter from widening the route).
fn regex_escape(family: &str) -> String {
    let mut out = String::with_capacity(family.len());
    for ch in family.chars() {
        if !ch.is_ascii_alphanumeric() && ch != '-' && ch != '_' {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The path parameters past `{family}` (which [`KindRef`] reads), taken by name.
#[derive(Debug, Deserialize)]
struct InProduction {
    production_id: String,
}

#[derive(Debug, Deserialize)]
struct Keyed {
    key: String,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    archived: Option<String>,
}

impl ListQuery {
    fn archived(&self) -> bool {
        matches!(self.archived.as_deref(), Some("true" | "1"))
    }
}

async fn list_in_production(
    store: web::Data<Store>,
    kind: KindRef,
    production: web::Path<InProduction>,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let production_id = production.into_inner().production_id;
    match store
        .list_pages(kind.0, Some(production_id), query.archived())
        .await
    {
        Ok(pages) => Ok(paged_json_response(pages)),
        // The list of a production this box does not hold: `200 []`, as the old server
        // answered for any id. The crew app asks for lists by ids that are not productions
        // (its LED page uses a local cache id, over and over) and treats a failure as an empty
        // list anyway; a 404 there only fills its console and the box's log. Whoever needs to
        // tell "unknown" from "empty" reads the header, or `GET /api/productions/:id`.
        Err(StoreError::ProductionNotFound { .. }) => Ok(HttpResponse::Ok()
            .insert_header(("X-Venuebox-Production", "unknown"))
            .content_type(actix_web::http::header::ContentType::json())
            .body("[]")),
        Err(other) => Err(other.into()),
    }
}

async fn list_global(
    store: web::Data<Store>,
    kind: KindRef,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let pages = store.list_pages(kind.0, None, query.archived()).await?;
    Ok(paged_json_response(pages))
}

async fn get_one(
    store: web::Data<Store>,
    kind: KindRef,
    key: web::Path<Keyed>,
) -> ApiResult<HttpResponse> {
    let row = store.get_json(kind.0, key.into_inner().key).await?;
    Ok(json_response(row))
}

/// A 200 with JSON the store has already serialized (lists and reads skip the value tree).
fn json_response(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body)
}

/// A 200 with a JSON answer read a page at a time (`venuebox_store::pages`): whole, with its
/// length, when it fit in one page; else a chunked stream whose next page is read only when
/// the socket has taken the last one, so a slow reader costs the box one page, not the list.
/// A read that fails mid-answer (the store closing) ends the stream without its last chunk,
/// which every HTTP client reports as a truncated answer rather than a short list.
pub(crate) fn paged_json_response(pages: JsonPages) -> HttpResponse {
    match pages.into_complete() {
        Ok(body) => json_response(body),
        Err(pages) => {
            let chunks = futures_util::stream::unfold(pages, |mut pages| async move {
                let chunk = pages.next_chunk().await?;
                let chunk = chunk.map(Bytes::from).map_err(|err| {
                    tracing::warn!(error = %err, "a paged answer ended early");
                    ApiError::from(err)
                });
                Some((chunk, pages))
            });
            HttpResponse::Ok()
                .content_type(actix_web::http::header::ContentType::json())
                .streaming(chunks)
        }
    }
}

async fn create(
    store: web::Data<Store>,
    kind: KindRef,
    JsonObject(body): JsonObject,
) -> ApiResult<HttpResponse> {
    let row = store.create(kind.0, body).await?;
    Ok(HttpResponse::Created().json(row))
}

async fn update(
    store: web::Data<Store>,
    kind: KindRef,
    key: web::Path<Keyed>,
    JsonObject(body): JsonObject,
) -> ApiResult<HttpResponse> {
    let row = store.update(kind.0, key.into_inner().key, body).await?;
    Ok(HttpResponse::Ok().json(row))
}

/// The crew app sends `{userId, userName}` as a DELETE body; it is optional and only names
/// who deleted, so an unreadable one is not worth refusing the delete for.
async fn delete(
    store: web::Data<Store>,
    kind: KindRef,
    key: web::Path<Keyed>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let named = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
    let text = |key: &str| named.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let actor = Actor {
        id: text("lastModifiedBy").or_else(|| text("userId")),
        name: text("userName"),
    };
    let kind = kind.0;
    let deleted = store.delete(kind, key.into_inner().key, actor).await?;
    let key_name = match kind.key {
        KeyStyle::Uuid => "uuid",
        KeyStyle::DisplayId => "id",
    };
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        key_name: deleted.uuid,
        "message": format!("{} deleted", kind.label),
    })))
}
