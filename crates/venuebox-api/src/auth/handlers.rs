//! The sign-in page and the credential endpoints: signing in and out, who am I, device
//! tokens, passphrases; and the admin passphrase a box makes on its first start.
use std::collections::HashMap;
use std::net::IpAddr;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use venuebox_store::{Store, StoreError, clock};

use super::limiter::Refusal;
use super::secrets::{
    MIN_PASSPHRASE_CHARS, generate_passphrase, hash_passphrase, hash_secret, random_id,
    random_secret, verify_passphrase,
};
use super::{
    AuthState, Credential, Ended, Principal, Role, SESSION_COOKIE, TOKEN_COOKIE, admin, public,
    urlencode, viewer,
};
use crate::config::AuthMode;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonObject;

/// Under systemd a generated admin passphrase goes to this file in the data folder (mode
/// 0600, the service's user; root reads it with `sudo cat /var/lib/venuebox/admin-passphrase.txt`)
/// instead of the journal, which keeps everything it is given for months. The box removes the
/// file once the admin has signed in or the admin passphrase has changed.
pub const FIRST_PASSPHRASE_FILE: &str = "admin-passphrase.txt";

/// Removes the file holding a generated admin passphrase, if it is there.
pub fn forget_first_passphrase(file: &std::path::Path) {
    match std::fs::remove_file(file) {
        Ok(()) => {
            tracing::info!(file = %file.display(), "removed the first-start admin passphrase file")
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            tracing::warn!(file = %file.display(), error = %err, "cannot remove the first-start admin passphrase file")
        }
    }
}

/// Makes sure an admin passphrase exists. Returns a newly generated one, which the caller
/// shows once; `provisioned` (VENUEBOX_ADMIN_PASSPHRASE) is used instead when given.
pub async fn ensure_admin_passphrase(
    store: &Store,
    provisioned: Option<String>,
) -> venuebox_store::Result<Option<String>> {
    if let Some(passphrase) = provisioned.filter(|p| !p.is_empty()) {
        let hash = hash_passphrase(&passphrase);
        store.provision_credential("admin", hash).await?;
        return Ok(None);
    }
    if store.has_credential("admin").await? {
        return Ok(None);
    }
    let passphrase = generate_passphrase();
    let hash = hash_passphrase(&passphrase);
    store.provision_credential("admin", hash).await?;
    Ok(Some(passphrase))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", public(web::get().to(login_page)))
        .route("/login", public(web::post().to(login_form)))
        .route("/logout", public(web::post().to(logout)))
        .route("/api/auth/login", public(web::post().to(api_login)))
        .route("/api/auth/token", public(web::post().to(token_sign_in)))
        .route("/api/auth/me", viewer(web::get().to(me)))
        .route("/api/auth/tokens", admin(web::get().to(list_tokens)))
        .route("/api/auth/tokens", admin(web::post().to(create_token)))
        .route(
            "/api/auth/tokens/{id}",
            admin(web::delete().to(revoke_token)),
        )
        .route(
            "/api/auth/passphrases",
            admin(web::post().to(set_passphrase)),
        );
}

/// Checks a passphrase against every role's; the highest role that matches wins.
async fn check_passphrase(store: &Store, state: &AuthState, passphrase: String) -> Option<Role> {
    let hashes = store.credential_hashes().await.ok()?;
    state
        .hashing
        .run(move || {
            let mut matched: Vec<Role> = hashes
                .iter()
                .filter(|(_, hash)| verify_passphrase(&passphrase, hash))
                .filter_map(|(role, _)| Role::parse(role))
                .collect();
            matched.sort();
            matched.pop()
        })
        .await
        .flatten()
}

/// A sign-in attempt past the limiter (per address, box-wide, hashes at once), or its refusal.
async fn admit<'a>(
    req: &HttpRequest,
    state: &'a AuthState,
) -> Result<super::limiter::Attempt<'a>, ApiError> {
    let ip = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    state
        .limiter
        .admit(ip)
        .await
        .map_err(|refusal| match refusal {
            Refusal::Limited { retry_after } => ApiError::TooManyAttempts { retry_after },
            Refusal::Busy => ApiError::SignInBusy,
        })
}

/// The login shared by the form and the JSON endpoint: rate limit, check, start a session.
async fn sign_in(
    req: &HttpRequest,
    store: &Store,
    state: &AuthState,
    passphrase: String,
) -> Result<(Role, Cookie<'static>), ApiError> {
    let attempt = admit(req, state).await?;
    let Some(role) = check_passphrase(store, state, passphrase).await else {
        return Err(ApiError::InvalidCredentials("Wrong passphrase"));
    };
    attempt.succeeded();
    if role == Role::Admin {
        forget_first_passphrase(&state.first_passphrase);
    }
    let secret = random_secret();
    let hash = hash_secret(&secret);
    let expires = clock::format_iso(clock::now() + state.session_ttl);
    store.start_session(hash, role.as_str(), expires).await?;
    let cookie = Cookie::build(SESSION_COOKIE, secret)
        .path("/")
        .http_only(true)
        // Over HTTPS the cookie is never sent back over plain HTTP.
        .secure(req.app_config().secure())
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            state.session_ttl.as_secs() as i64,
        ))
        .finish();
    Ok((role, cookie))
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    passphrase: String,
    next: Option<String>,
}

/// Only a path on this box, so the login page cannot be used to send people elsewhere:
/// one leading `/` (browsers read `//host` and `/\host` as another site), no backslash at all,
/// and nothing but visible ASCII (a CR/LF would split the `Location` header). Anything else
/// goes to `/`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path[1..].starts_with(['/', '\\'])
                && !path.contains('\\')
                && path.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

async fn login_page(query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let next = safe_next(query.get("next").map(String::as_str));
    let failed = query.contains_key("failed");
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(crate::pages::login(&next, failed))
}

async fn login_form(
    req: HttpRequest,
    store: web::Data<Store>,
    state: web::Data<AuthState>,
    form: web::Form<LoginForm>,
) -> ApiResult<HttpResponse> {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    match sign_in(&req, &store, &state, form.passphrase).await {
        Ok((_, cookie)) => Ok(HttpResponse::SeeOther()
            .cookie(cookie)
            .insert_header((header::LOCATION, next))
            .finish()),
        // A person at the form gets the form again, with a message.
        Err(ApiError::InvalidCredentials(_)) => Ok(HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("/login?failed=1&next={}", urlencode(&next)),
            ))
            .finish()),
        Err(refusal) => Err(refusal),
    }
}

async fn api_login(
    req: HttpRequest,
    store: web::Data<Store>,
    state: web::Data<AuthState>,
    JsonObject(body): JsonObject,
) -> ApiResult<HttpResponse> {
    let passphrase = body
        .get("passphrase")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| StoreError::MissingField {
            field: "passphrase".into(),
        })?;
    let (role, cookie) = sign_in(&req, &store, &state, passphrase).await?;
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .json(json!({"role": role.as_str()})))
}

/// `POST /api/auth/token {"token"}`: a browser signs in with a device token (a tablet that
/// scanned the token's QR code, whose link carries the token in its `#fragment`, which no
/// server or log sees). The token goes into an HttpOnly cookie and stays the credential:
/// revoking it ends the browser's access. Counted by the sign-in limiter like a passphrase.
async fn token_sign_in(
    req: HttpRequest,
    store: web::Data<Store>,
    state: web::Data<AuthState>,
    JsonObject(body): JsonObject,
) -> ApiResult<HttpResponse> {
    let token = body
        .get("token")
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| StoreError::MissingField {
            field: "token".into(),
        })?;
    let attempt = admit(&req, &state).await?;
    let Some((_, role)) = store.token_by_hash(hash_secret(&token)).await? else {
        return Err(ApiError::InvalidCredentials("Unknown or revoked token"));
    };
    attempt.succeeded();
    let cookie = Cookie::build(TOKEN_COOKIE, token)
        .path("/")
        .http_only(true)
        .secure(req.app_config().secure())
        .same_site(SameSite::Lax)
        // A tablet stays signed in as long as its token lives (a year at most, then scan
        // again).
        .max_age(actix_web::cookie::time::Duration::days(365))
        .finish();
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .json(json!({"role": role})))
}

async fn logout(
    req: HttpRequest,
    store: web::Data<Store>,
    state: web::Data<AuthState>,
) -> HttpResponse {
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        let hash = hash_secret(cookie.value());
        let _ = store.end_session(hash.clone()).await;
        state.end(Ended::Credential(Credential::Session(hash)));
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .finish();
    gone.make_removal();
    // Signing out a tablet forgets its token here; the token itself lives until revoked.
    let mut token_gone = Cookie::build(TOKEN_COOKIE, "")
        .path("/")
        .http_only(true)
        .finish();
    token_gone.make_removal();
    HttpResponse::Ok()
        .cookie(gone)
        .cookie(token_gone)
        .json(json!({"success": true}))
}

async fn me(req: HttpRequest, state: web::Data<AuthState>) -> HttpResponse {
    let role = req.extensions().get::<Principal>().map(|p| p.role.as_str());
    HttpResponse::Ok().json(json!({"role": role, "mode": match state.mode { AuthMode::Open => "open", AuthMode::Passphrase => "passphrase" }}))
}

fn role_field(body: &serde_json::Map<String, serde_json::Value>) -> Result<Role, StoreError> {
    body.get("role")
        .and_then(|v| v.as_str())
        .and_then(Role::parse)
        .ok_or_else(|| {
            StoreError::invalid("role", "Field \"role\" must be viewer, editor or admin")
        })
}

async fn create_token(
    store: web::Data<Store>,
    JsonObject(body): JsonObject,
) -> ApiResult<HttpResponse> {
    let role = role_field(&body)?;
    let name = body
        .get("name")
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("device")
        .to_owned();
    let secret = format!("vbx_{}", random_secret());
    let hash = hash_secret(&secret);
    let info = store
        .create_token(random_id(), name, role.as_str(), hash)
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "token": secret, "id": info.id, "name": info.name, "role": info.role,
        "createdAt": info.created_at,
        "message": "Store this token now: the box keeps only its hash and cannot show it again",
    })))
}

async fn list_tokens(store: web::Data<Store>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(store.tokens().await?))
}

async fn revoke_token(
    store: web::Data<Store>,
    state: web::Data<AuthState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    if store.revoke_token(id.clone()).await? {
        state.end(Ended::Credential(Credential::Token(id)));
        Ok(HttpResponse::Ok().json(json!({"success": true})))
    } else {
        Err(StoreError::NotFound { label: "Token" }.into())
    }
}

/// Sets (or, with `passphrase: null` for viewer, removes) a role's passphrase; ends that
/// role's browser sessions.
async fn set_passphrase(
    store: web::Data<Store>,
    state: web::Data<AuthState>,
    JsonObject(body): JsonObject,
) -> ApiResult<HttpResponse> {
    let role = role_field(&body)?;
    let passphrase = body
        .get("passphrase")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    match passphrase {
        Some(p) if p.chars().count() < MIN_PASSPHRASE_CHARS => Err(StoreError::invalid(
            "passphrase",
            format!("A passphrase needs at least {MIN_PASSPHRASE_CHARS} characters"),
        )
        .into()),
        Some(p) => {
            let hash = state
                .hashing
                .run(move || hash_passphrase(&p))
                .await
                .ok_or_else(|| StoreError::Internal("passphrase hashing stopped".into()))?;
            store.replace_credential(role.as_str(), hash).await?;
            state.end(Ended::SessionsOf(role));
            if role == Role::Admin {
                forget_first_passphrase(&state.first_passphrase);
            }
            Ok(HttpResponse::Ok().json(json!({"success": true, "role": role.as_str()})))
        }
        None if role == Role::Admin => {
            Err(StoreError::invalid("passphrase", "The admin passphrase cannot be removed").into())
        }
        None => {
            store.remove_credential(role.as_str()).await?;
            state.end(Ended::SessionsOf(role));
            Ok(HttpResponse::Ok()
                .json(json!({"success": true, "role": role.as_str(), "removed": true})))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_the_box() {
        for local in ["/", "/admin", "/projects/p1?tab=sources", "/a%2F%5Cb"] {
            assert_eq!(safe_next(Some(local)), local);
        }
        for elsewhere in [
            "//evil.example/",
            "/\\evil.example/",
            "/\\/evil.example",
            "/a\\b",
            "https://evil.example/",
            "evil",
            "/ok\r\nSet-Cookie: x=y",
            "/tab\there",
            "/caf\u{e9}",
        ] {
            assert_eq!(safe_next(Some(elsewhere)), "/", "{elsewhere:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
