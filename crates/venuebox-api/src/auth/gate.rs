//! Access is a property of a route. Every route is registered with the role it needs
//! ([`viewer`], [`editor`], [`admin`], or [`public`]), and that route's own gate checks the
//! caller's credentials after the router has matched it.
//!
//! Why not one middleware that reads the path: the router matches the *decoded* path
//! (`/api/auth/%74okens` is `/api/auth/tokens`), so any policy that parses `req.path()` a
//! second time can disagree with what actually runs, and percent-encoding walked straight past
//! such a check. A gate wrapped around the route cannot disagree: it runs exactly when its
//! handler is about to, whatever spelling of the path got there.
//!
//! Browser navigations without credentials are sent to `/login`; other callers get
//! `401 UNAUTHENTICATED`, and a too-low role `403 INSUFFICIENT_ROLE`.
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage, HttpResponse, ResponseError, Route, web};
use venuebox_store::Store;

use super::{
    AuthState, Credential, Principal, Role, SESSION_COOKIE, TOKEN_COOKIE, hash_secret, touch_token,
    urlencode,
};
use crate::config::AuthMode;
use crate::error::ApiError;

/// A route anyone may call (health probes, the sign-in page). Says so at the registration.
pub fn public(route: Route) -> Route {
    route
}

/// A route for anyone signed in: reading show data.
pub fn viewer(route: Route) -> Route {
    needs(Role::Viewer, route)
}

/// A route for the crew: changing show data.
pub fn editor(route: Route) -> Route {
    needs(Role::Editor, route)
}

/// A route for the admin: credentials, the box itself, the shared library.
pub fn admin(route: Route) -> Route {
    needs(Role::Admin, route)
}

/// Wraps `route` (after its handler is set) in the gate for `role`.
pub fn needs(role: Role, route: Route) -> Route {
    route.wrap(from_fn(move |req: ServiceRequest, next: Next<BoxBody>| {
        check(role, req, next)
    }))
}

/// The gate: who is calling, and may they call this route.
async fn check(
    required: Role,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let refusal = match principal(&req).await {
        Err(refusal) => refusal,
        Ok(Some(caller)) if caller.role >= required => {
            if let Err(refusal) = same_origin(&req, &caller) {
                return Ok(req.into_response(refusal.error_response()));
            }
            req.extensions_mut().insert(caller);
            return next.call(req).await;
        }
        Ok(Some(caller)) => ApiError::InsufficientRole {
            required: required.as_str(),
            role: caller.role.as_str(),
        },
        Ok(None) if wants_html(&req) => return Ok(to_login(req)),
        Ok(None) => ApiError::Unauthenticated,
    };
    Ok(req.into_response(refusal.error_response()))
}

/// Who the request's credentials say is calling: everyone is admin in open mode; otherwise a
/// bearer token, else the session cookie. An unknown or revoked token is refused outright
/// (a device should learn its token is dead, not be treated as a stranger).
pub async fn principal(req: &ServiceRequest) -> Result<Option<Principal>, ApiError> {
    let state = req
        .app_data::<web::Data<AuthState>>()
        .expect("auth state is registered");
    if state.mode == AuthMode::Open {
        return Ok(Some(Principal {
            role: Role::Admin,
            credential: Credential::Open,
            ambient: false,
        }));
    }
    let store = req
        .app_data::<web::Data<Store>>()
        .expect("store is registered");
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| (t.to_owned(), false));
    let in_cookie = || {
        req.cookie(TOKEN_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|t| !t.is_empty())
            .map(|t| (t, true))
    };
    if let Some((token, ambient)) = bearer.or_else(in_cookie) {
        let hash = hash_secret(&token);
        let found = store.token_by_hash(hash).await?;
        match found {
            Some((id, role)) => {
                touch_token(store, state, id.clone());
                return Ok(Role::parse(&role).map(|role| Principal {
                    role,
                    credential: Credential::Token(id),
                    ambient,
                }));
            }
            // A revoked token left in a browser's cookie: that browser is simply not signed
            // in any more (it is sent to the sign-in page), unless it has a session too.
            None if ambient => {}
            None => return Err(ApiError::InvalidCredentials("Unknown or revoked token")),
        }
    }
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        let hash = hash_secret(cookie.value());
        let found = store.session_role(hash.clone()).await?;
        return Ok(found
            .as_deref()
            .and_then(Role::parse)
            .map(|role| Principal {
                role,
                credential: Credential::Session(hash),
                ambient: true,
            }));
    }
    Ok(None)
}

/// A browser sends the crew's cookie with requests any page makes, including a page of
/// another site (or another port of the box's own host). For a cookie-borne session, a
/// change (any method but GET/HEAD/OPTIONS) or a websocket handshake must therefore come from
/// the box's own pages, or from an origin listed in `auth.cors_origins`: the `Origin` header
/// browsers set on exactly those requests must name the host the request was sent to.
/// Requests without `Origin` come from scripts and devices, not from a page; tokens are not
/// ambient, so they are not checked.
fn same_origin(req: &ServiceRequest, caller: &Principal) -> Result<(), ApiError> {
    if !caller.ambient {
        return Ok(());
    }
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let handshake = req.headers().contains_key(header::UPGRADE);
    if !changes && !handshake {
        return Ok(());
    }
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().map_err(|_| ApiError::ForeignOrigin)?;
    let state = req
        .app_data::<web::Data<AuthState>>()
        .expect("auth state is registered");
    if state.cors_origins.iter().any(|allowed| allowed == origin) {
        return Ok(());
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    if !host.is_empty() && origin_host.is_some_and(|o| o.eq_ignore_ascii_case(host)) {
        return Ok(());
    }
    Err(ApiError::ForeignOrigin)
}

fn wants_html(req: &ServiceRequest) -> bool {
    req.method() == Method::GET
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

pub(crate) fn to_login(req: ServiceRequest) -> ServiceResponse<BoxBody> {
    let next_path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let location = format!("/login?next={}", urlencode(next_path));
    let response = HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .finish();
    req.into_response(response)
}
