//! Crew credentials: who may read or change what.
//!
//! * [`gate`]: every route is registered with the role it needs, and its own gate checks the
//!   caller once the router has matched it — REST, the Socket.IO handshake, admin, sync and
//!   discovery control alike.
//! * [`secrets`]: a passphrase per role (argon2 hashes), browser sessions (an HttpOnly cookie
//!   holding a random secret; SHA-256 of it is stored), device tokens (`Authorization:
//!   Bearer`, stored as SHA-256, revocable, with last-used time).
//! * [`limiter`]: the sign-in limit. [`handlers`]: the sign-in page and credential endpoints.
//! * `auth.mode = "open"` lets everyone in as admin; it is logged as a warning at every start.
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use venuebox_store::Store;

use crate::config::{AuthConfig, AuthMode};

pub mod gate;
pub mod handlers;
pub mod limiter;
pub mod secrets;

pub use gate::{admin, editor, public, viewer};
pub use handlers::{
    FIRST_PASSPHRASE_FILE, configure, ensure_admin_passphrase, forget_first_passphrase,
};
use limiter::SignInLimiter;
pub use secrets::MIN_PASSPHRASE_CHARS;
pub use secrets::{generate_passphrase, hash_passphrase, hash_secret};

pub const SESSION_COOKIE: &str = "venuebox_session";
/// A device token held by a browser (a tablet that scanned the token's QR code): the token
/// itself, HttpOnly, so revoking the token ends the tablet's access at once.
pub const TOKEN_COOKIE: &str = "venuebox_token";

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
#[derive(Debug, Clone)]
pub struct Principal {
    pub role: Role,
    pub credential: Credential,
    /// It came in a cookie, which a browser attaches to requests other sites' pages make:
    /// changes must then come from the box's own pages (`gate::same_origin`).
    pub ambient: bool,
}

/// Which credential a request came with: what per-credential limits count by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// Open mode: everyone is one caller.
    Open,
    /// A device token, by its public id.
    Token(String),
    /// A browser session, by the stored hash of its cookie.
    Session(String),
}

/// What every request's access check and every credential endpoint share: one per box (not
/// per HTTP worker, or the sign-in limit would multiply by the worker count).
pub struct AuthState {
    pub mode: AuthMode,
    pub session_ttl: Duration,
    pub limiter: SignInLimiter,
    /// Credentials that stopped holding, told to whatever outlives a request (open sockets).
    ended: tokio::sync::broadcast::Sender<Ended>,
    /// Other browser origins allowed to call with the crew's cookie (`auth.cors_origins`).
    pub cors_origins: Vec<String>,
    /// Where a generated admin passphrase waits under systemd (see
    /// [`handlers::FIRST_PASSPHRASE_FILE`]); removed once the admin has signed in or changed it.
    pub first_passphrase: std::path::PathBuf,
    /// Where passphrase hashes run (see [`secrets::HashingThreads`]).
    pub hashing: secrets::HashingThreads,
    token_touched: Mutex<HashMap<String, Instant>>,
}

impl AuthState {
    pub fn new(config: &AuthConfig, data_dir: &std::path::Path) -> AuthState {
        AuthState {
            first_passphrase: data_dir.join(handlers::FIRST_PASSPHRASE_FILE),
            cors_origins: config.cors_origins.clone(),
            ended: tokio::sync::broadcast::channel(64).0,
            mode: config.mode,
            session_ttl: Duration::from_secs(config.session_minutes.saturating_mul(60)),
            limiter: SignInLimiter::new(config.login_attempts, config.login_attempts_total),
            hashing: secrets::HashingThreads::start(limiter::HASHING_AT_ONCE),
            token_touched: Mutex::new(HashMap::new()),
        }
    }
}

/// A credential that no longer holds.
#[derive(Debug, Clone)]
pub enum Ended {
    /// A revoked token, a signed-out session.
    Credential(Credential),
    /// Every browser session of a role: its passphrase changed or was removed.
    SessionsOf(Role),
}

impl AuthState {
    /// Tells everything holding on to a credential beyond one request that it has ended.
    pub fn end(&self, ended: Ended) {
        let _ = self.ended.send(ended);
    }

    /// Completes once `caller`'s credential has ended (never in open mode).
    pub fn until_ended(&self, caller: &Principal) -> impl Future<Output = ()> + 'static {
        let mut events = self.ended.subscribe();
        let credential = caller.credential.clone();
        let role = caller.role;
        async move {
            if credential == Credential::Open {
                return std::future::pending().await;
            }
            loop {
                match events.recv().await {
                    Ok(Ended::Credential(ended)) if ended == credential => return,
                    Ok(Ended::SessionsOf(ended))
                        if ended == role && matches!(credential, Credential::Session(_)) =>
                    {
                        return;
                    }
                    Ok(_) => {}
                    // Missed some: end to be safe; a client that still holds reconnects.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        return std::future::pending().await;
                    }
                }
            }
        }
    }
}

/// Records a token's use, at most once a minute, without holding up the request.
pub(crate) fn touch_token(store: &Store, state: &AuthState, id: String) {
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
        let _ = store.touch_token(id).await;
    });
}

/// A path as a query parameter value (`/login?next=…`): everything but unreserved characters
/// and `/` percent-encoded.
pub(crate) fn urlencode(text: &str) -> String {
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    utf8_percent_encode(text, KEEP).to_string()
}
