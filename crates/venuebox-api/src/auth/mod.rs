//! Crew credentials: who may read or change what, enforced in one place.
//!
//! * [`gate`]: every route is registered with the role it needs, and its own gate checks the
//!   caller once the router has matched it — REST, the Socket.IO handshake, admin, sync and
//!   discovery control alike.
//! * Credentials: a passphrase per role (argon2 hashes), browser sessions (an HttpOnly cookie
//!   holding a random secret; SHA-256 of it is stored), device tokens (`Authorization:
//!   Bearer`, stored as SHA-256, revocable, with last-used time).
//! * `auth.mode = "open"` lets everyone in as admin; it is logged as a warning at every start.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use venuebox_store::{Store, StoreError, access, clock};

use crate::config::{AuthConfig, AuthMode};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonObject;

pub mod gate;
pub use gate::{admin, editor, public, viewer};

pub const SESSION_COOKIE: &str = "venuebox_session";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Who is making a request, once authorized.
#[derive(Debug, Clone, Copy)]
pub struct Principal {
    pub role: Role,
}

/// Failed logins per client address within [`LOGIN_WINDOW`].
const LOGIN_WINDOW: Duration = Duration::from_secs(600);

pub struct AuthState {
    pub mode: AuthMode,
    pub session_ttl: Duration,
    pub login_attempts: usize,
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
    token_touched: Mutex<HashMap<String, Instant>>,
}

impl AuthState {
    pub fn new(config: &AuthConfig) -> AuthState {
        AuthState {
            mode: config.mode,
            session_ttl: Duration::from_secs(config.session_minutes.saturating_mul(60)),
            login_attempts: config.login_attempts.max(1),
            failures: Mutex::new(HashMap::new()),
            token_touched: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds to wait if this address has used up its attempts.
    fn blocked_for(&self, ip: IpAddr) -> Option<u64> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let recent = failures.entry(ip).or_default();
        recent.retain(|at| at.elapsed() < LOGIN_WINDOW);
        if recent.len() >= self.login_attempts {
            let oldest = recent.iter().min().copied().unwrap_or_else(Instant::now);
            Some(
                LOGIN_WINDOW
                    .saturating_sub(oldest.elapsed())
                    .as_secs()
                    .max(1),
            )
        } else {
            None
        }
    }

    fn record_failure(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(ip)
            .or_default()
            .push(Instant::now());
    }

    fn record_success(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
    }
}

pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hash_passphrase(passphrase: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(passphrase.as_bytes(), &salt)
        .expect("argon2 hashes any passphrase")
        .to_string()
}

fn verify_passphrase(passphrase: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(passphrase.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A random secret: 244 bits from the OS generator, as hex.
fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A passphrase a person can read out and type: six groups of four from an alphabet without
/// look-alike characters (about 120 bits).
pub fn generate_passphrase() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bits = uuid::Uuid::new_v4().as_u128() ^ (uuid::Uuid::new_v4().as_u128() << 7);
    let chars: Vec<char> = (0..24)
        .map(|_| {
            let c = ALPHABET[(bits % ALPHABET.len() as u128) as usize] as char;
            bits /= ALPHABET.len() as u128;
            c
        })
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Makes sure an admin passphrase exists. Returns a newly generated one, which the caller
/// shows once; `provisioned` (VENUEBOX_ADMIN_PASSPHRASE) is used instead when given.
pub async fn ensure_admin_passphrase(
    store: &Store,
    provisioned: Option<String>,
) -> venuebox_store::Result<Option<String>> {
    if let Some(passphrase) = provisioned.filter(|p| !p.is_empty()) {
        let hash = hash_passphrase(&passphrase);
        store
            .write(move |tx| access::set_credential(tx.conn(), "admin", &hash))
            .await?;
        return Ok(None);
    }
    if store
        .read(|conn| access::has_credential(conn, "admin"))
        .await?
    {
        return Ok(None);
    }
    let passphrase = generate_passphrase();
    let hash = hash_passphrase(&passphrase);
    store
        .write(move |tx| access::set_credential(tx.conn(), "admin", &hash))
        .await?;
    Ok(Some(passphrase))
}

/// Records a token's use, at most once a minute, without holding up the request.
fn touch_token(store: &Store, state: &AuthState, id: String) {
    let mut touched = state
        .token_touched
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if touched
        .get(&id)
        .is_some_and(|at| at.elapsed() < Duration::from_secs(60))
    {
        return;
    }
    touched.insert(id.clone(), Instant::now());
    let store = store.clone();
    tokio::spawn(async move {
        let _ = store
            .write(move |tx| access::touch_token(tx.conn(), &id))
            .await;
    });
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", public(web::get().to(login_page)))
        .route("/login", public(web::post().to(login_form)))
        .route("/logout", public(web::post().to(logout)))
        .route("/api/auth/login", public(web::post().to(api_login)))
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
async fn check_passphrase(store: &Store, passphrase: String) -> Option<Role> {
    let hashes = store.read(access::credential_hashes).await.ok()?;
    web::block(move || {
        let mut matched: Vec<Role> = hashes
            .iter()
            .filter(|(_, hash)| verify_passphrase(&passphrase, hash))
            .filter_map(|(role, _)| Role::parse(role))
            .collect();
        matched.sort();
        matched.pop()
    })
    .await
    .ok()
    .flatten()
}

/// The login shared by the form and the JSON endpoint: rate limit, check, start a session.
async fn sign_in(
    req: &HttpRequest,
    store: &Store,
    state: &AuthState,
    passphrase: String,
) -> Result<(Role, Cookie<'static>), ApiError> {
    let ip = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if let Some(retry_after) = state.blocked_for(ip) {
        return Err(ApiError::TooManyAttempts { retry_after });
    }
    let Some(role) = check_passphrase(store, passphrase).await else {
        state.record_failure(ip);
        return Err(ApiError::InvalidCredentials("Wrong passphrase"));
    };
    state.record_success(ip);
    let secret = random_secret();
    let hash = hash_secret(&secret);
    let expires = clock::format_iso(clock::now() + state.session_ttl);
    store
        .write(move |tx| access::insert_session(tx.conn(), &hash, role.as_str(), &expires))
        .await?;
    let cookie = Cookie::build(SESSION_COOKIE, secret)
        .path("/")
        .http_only(true)
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

/// Only local paths, so the login page cannot be used to send people elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") => path.to_owned(),
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

async fn logout(req: HttpRequest, store: web::Data<Store>) -> HttpResponse {
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        let hash = hash_secret(cookie.value());
        let _ = store
            .write(move |tx| access::delete_session(tx.conn(), &hash))
            .await;
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .finish();
    gone.make_removal();
    HttpResponse::Ok()
        .cookie(gone)
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
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let info = store
        .write(move |tx| access::insert_token(tx.conn(), &id, &name, role.as_str(), &hash))
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "token": secret, "id": info.id, "name": info.name, "role": info.role,
        "createdAt": info.created_at,
        "message": "Store this token now: the box keeps only its hash and cannot show it again",
    })))
}

async fn list_tokens(store: web::Data<Store>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(store.read(access::list_tokens).await?))
}

async fn revoke_token(store: web::Data<Store>, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    if store
        .write(move |tx| access::revoke_token(tx.conn(), &id))
        .await?
    {
        Ok(HttpResponse::Ok().json(json!({"success": true})))
    } else {
        Err(StoreError::NotFound { label: "Token" }.into())
    }
}

/// Sets (or, with `passphrase: null` for viewer, removes) a role's passphrase; ends that
/// role's browser sessions.
async fn set_passphrase(
    store: web::Data<Store>,
    JsonObject(body): JsonObject,
) -> ApiResult<HttpResponse> {
    let role = role_field(&body)?;
    let passphrase = body
        .get("passphrase")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    match passphrase {
        Some(p) if p.chars().count() < 8 => Err(StoreError::invalid(
            "passphrase",
            "A passphrase needs at least 8 characters",
        )
        .into()),
        Some(p) => {
            let hash = web::block(move || hash_passphrase(&p))
                .await
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            store
                .write(move |tx| {
                    access::set_credential(tx.conn(), role.as_str(), &hash)?;
                    access::delete_sessions_of(tx.conn(), role.as_str())
                })
                .await?;
            Ok(HttpResponse::Ok().json(json!({"success": true, "role": role.as_str()})))
        }
        None if role == Role::Admin => {
            Err(StoreError::invalid("passphrase", "The admin passphrase cannot be removed").into())
        }
        None => {
            store
                .write(move |tx| {
                    access::delete_sessions_of(tx.conn(), role.as_str())?;
                    access::remove_credential(tx.conn(), role.as_str())
                })
                .await?;
            Ok(HttpResponse::Ok()
                .json(json!({"success": true, "role": role.as_str(), "removed": true})))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrases_hash_and_verify() {
        let hash = hash_passphrase("correct horse");
        assert!(hash.starts_with("$argon2"));
        assert!(verify_passphrase("correct horse", &hash));
        assert!(!verify_passphrase("wrong horse", &hash));
        let generated = generate_passphrase();
        assert_eq!(generated.len(), 29);
        assert_ne!(generated, generate_passphrase());
    }

    #[test]
    fn only_local_next_paths() {
        assert_eq!(safe_next(Some("/equipment")), "/equipment");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
    }
}
