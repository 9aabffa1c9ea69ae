//! Building and running the server. [`create_app`] is shared by `main` and the tests;
//! [`Application::build`] binds the listener first, so tests ask for port 0 and learn the
//! real one.
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_cors::Cors;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;
use tracing_actix_web::TracingLogger;
use venuebox_mdns::{Advertiser, Announcement};
use venuebox_realtime::Realtime;
use venuebox_store::{Store, StoreOptions};

use crate::auth::{admin, public, viewer};
use crate::config::{AuthMode, Config};
use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::routes::{self, server::ServerFacts};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database in {dir}: {source}")]
    Store {
        dir: String,
        source: venuebox_store::StoreError,
    },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("invalid mDNS settings: {0}")]
    Mdns(#[from] venuebox_mdns::MdnsError),
    #[error("invalid hub settings: {0}")]
    Hub(#[from] venuebox_sync::SyncError),
    #[error("{0}")]
    Config(String),
}

/// The HTTPS listener, its port and the box's TLS identity, when `server.https_listen` is set.
fn bind_https(
    config: &Config,
) -> Result<Option<(TcpListener, u16, crate::tls::TlsIdentity)>, StartupError> {
    let listen = config.server.https_listen.trim();
    if listen.is_empty() {
        return Ok(None);
    }
    let address: std::net::SocketAddr = listen.parse().map_err(|_| {
        StartupError::Config(format!(
            "server.https_listen {listen:?} is not an address:port"
        ))
    })?;
    let (cert, key) = (&config.server.tls_cert_file, &config.server.tls_key_file);
    let provided = match (cert.as_os_str().is_empty(), key.as_os_str().is_empty()) {
        (true, true) => None,
        (false, false) => Some((cert.as_path(), key.as_path())),
        _ => {
            return Err(StartupError::Config(
                "server.tls_cert_file and server.tls_key_file go together".into(),
            ));
        }
    };
    let identity =
        crate::tls::load_or_create(&config.storage.data_dir, provided, &config.mdns.hostname)
            .map_err(|err| StartupError::Config(err.to_string()))?;
    let (listener, port) = bind(address)?;
    Ok(Some((listener, port, identity)))
}

/// A listener on `address` and the port it got (port 0 asks the system for one).
fn bind(address: std::net::SocketAddr) -> Result<(TcpListener, u16), StartupError> {
    let failed = |source| StartupError::Bind {
        address: address.to_string(),
        source,
    };
    let listener = TcpListener::bind(address).map_err(failed)?;
    let port = listener.local_addr().map_err(failed)?.port();
    Ok((listener, port))
}

/// The sync engine's settings from the configuration (`[hub]`, `node.name`).
pub fn sync_settings(config: &Config) -> Result<venuebox_sync::SyncSettings, StartupError> {
    let hub = if config.hub.url.is_empty() {
        None
    } else {
        let ca_file =
            (!config.hub.ca_file.as_os_str().is_empty()).then(|| config.hub.ca_file.clone());
        Some(venuebox_sync::HubTarget::new(
            config.hub.url.expose(),
            ca_file,
        )?)
    };
    let scope = match config.hub.scope.trim() {
        "all" => venuebox_sync::ScopeMode::All,
        "held" | "" => venuebox_sync::ScopeMode::Held,
        other => {
            return Err(StartupError::Hub(venuebox_sync::SyncError::Config(
                format!("hub.scope must be \"held\" or \"all\", not {other:?}"),
            )));
        }
    };
    Ok(venuebox_sync::SyncSettings {
        hub,
        node_name: config.node.name.clone(),
        interval: config.hub.interval(),
        scope,
        backup_dir: Some(config.backup_dir()),
        call_timeout: venuebox_sync::engine::CALL_TIMEOUT,
    })
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub metrics: web::Data<crate::metrics::Metrics>,
    /// One per box, shared by every HTTP worker (the sign-in limit counts box-wide).
    pub auth: web::Data<crate::auth::AuthState>,
    pub store: Store,
    pub realtime: Realtime,
    pub advertiser: Advertiser,
    pub config: Arc<Config>,
    pub facts: ServerFacts,
    /// The sync engine of the moment (the console can point the box at another hub).
    pub sync: web::Data<crate::sync_slot::SyncSlot>,
    /// Websockets per credential, counted across every worker.
    pub sockets: web::Data<crate::connections::SocketSlots>,
    /// The crew app served at `/` (installed from the console, or `ui.static_dir`).
    pub app: web::Data<crate::app_install::AppSlot>,
    /// Whether `/` still opens the setup wizard.
    pub setup: web::Data<crate::setup::SetupState>,
}

/// The whole HTTP application: middleware, the `/api` routes, their root aliases, and JSON
/// answers for everything that is not found or not allowed.
pub fn create_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let body_limit = state.config.server.body_limit_bytes;
    let auth = state.auth.clone();
    let backups = web::Data::new(crate::routes::backups::BackupDir(state.config.backup_dir()));
    let limits = web::Data::new(crate::connections::ClientLimits {
        unauthenticated_per_address: state.config.server.unauthenticated_connections_per_address,
        body_timeout: Duration::from_secs(state.config.server.body_timeout_secs),
    });
    let https_port = web::Data::new(crate::tls::HttpsPort(
        state.facts.https.as_ref().map(|(port, _)| *port),
    ));
    App::new()
        .app_data(auth)
        .app_data(https_port)
        .app_data(limits)
        .app_data(state.sockets.clone())
        .app_data(backups)
        .app_data(state.metrics.clone())
        .app_data(state.app.clone())
        .app_data(state.setup.clone())
        .app_data(web::Data::new(state.store.clone()))
        .app_data(state.sync.clone())
        .app_data(web::Data::new(state.config.clone()))
        .app_data(web::Data::new(state.facts.clone()))
        .app_data(web::Data::new(state.realtime.clone()))
        .app_data(web::Data::new(state.advertiser.clone()))
        .app_data(web::Data::new(state.config.mdns.clone()))
        .app_data(web::Data::new(BodyLimit(body_limit)))
        // Bodies are read by our extractor; this only keeps actix from refusing first.
        .app_data(web::PayloadConfig::new(body_limit.saturating_add(1)))
        .app_data(
            web::PathConfig::default().error_handler(|err, _| {
                ApiError::BadRequest(format!("Invalid path: {err}")).into()
            }),
        )
        .app_data(
            web::FormConfig::default().error_handler(|err, _| match err {
                actix_web::error::UrlencodedError::Payload(err) => {
                    ApiError::from_payload(&err).into()
                }
                err => ApiError::BadRequest(format!("Invalid form: {err}")).into(),
            }),
        )
        .app_data(web::QueryConfig::default().error_handler(|err, _| {
            ApiError::BadRequest(format!("Invalid query string: {err}")).into()
        }))
        // Browser navigations get the crew's web app (when configured), behind the sign-in.
        // Every route below carries its own access gate (`auth::gate`).
        .wrap(actix_web::middleware::from_fn(crate::ui::serve_app))
        // Strangers crowding one address are let go; bodies get their deadline.
        .wrap(actix_web::middleware::from_fn(crate::connections::admit))
        .wrap(ErrorHandlers::new().default_handler(json_error_body))
        .wrap(security_headers())
        .wrap(cors(&state.config))
        // With HTTPS on, the plain port sends everyone there (before anything reads a body).
        .wrap(actix_web::middleware::from_fn(crate::tls::redirect_plain))
        .wrap(actix_web::middleware::from_fn(crate::metrics::record))
        .wrap(TracingLogger::<crate::request_log::RequestLog>::new())
        // The Socket.IO handshake: the client connects to the origin, with or without the slash.
        .route(
            "/socket.io/",
            viewer(web::get().to(crate::connections::socket)),
        )
        .route(
            "/socket.io",
            viewer(web::get().to(crate::connections::socket)),
        )
        .configure(crate::auth::configure)
        .route("/favicon.ico", public(web::get().to(crate::ui::favicon)))
        .route("/metrics", viewer(web::get().to(crate::metrics::expose)))
        .route(
            "/api/openapi.json",
            viewer(web::get().to(crate::openapi::serve)),
        )
        .route("/admin", admin(web::get().to(admin_page)))
        .route("/admin/admin.js", admin(web::get().to(admin_script)))
        .route("/admin/console.js", admin(web::get().to(console_script)))
        // The box's own pages that come before sign-in: `/` without a crew app, the setup
        // wizard (its first step is signing in), and their scripts, which hold no data.
        .route("/", public(web::get().to(home_page)))
        .route("/setup", public(web::get().to(setup_page)))
        .route("/box/{script}", public(web::get().to(box_script)))
        .route("/admin/qr.svg", admin(web::get().to(routes::admin::qr_svg)))
        .service(web::scope("/api").configure(|cfg| routes::configure(cfg, true)))
        .configure(|cfg| routes::configure(cfg, false))
        // Files of the crew's web app; everything else unmatched is a JSON 404.
        .default_service(viewer(web::to(crate::ui::static_file)))
}

/// The status page (admin only: see its route).
async fn admin_page(config: web::Data<Arc<Config>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(crate::pages::admin(
            &config.node.name,
            config.auth.mode == AuthMode::Open,
        ))
}

async fn admin_script() -> HttpResponse {
    script(crate::pages::ADMIN_JS)
}

async fn console_script() -> HttpResponse {
    script(crate::pages::CONSOLE_JS)
}

fn script(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .body(body)
}

/// `/box/common.js`, `/box/setup.js`, `/box/sign-in.js`.
async fn box_script(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match name.as_str() {
        "common.js" => Ok(script(crate::pages::COMMON_JS)),
        "setup.js" => Ok(script(crate::pages::SETUP_JS)),
        "sign-in.js" => Ok(script(crate::pages::SIGN_IN_JS)),
        _ => Err(ApiError::RouteNotFound),
    }
}

/// `/` when no crew app is installed (the app itself is served by `ui::serve_app`): what this
/// box is and where to go; a box never set up goes to its setup wizard.
async fn home_page(
    config: web::Data<Arc<Config>>,
    setup: web::Data<crate::setup::SetupState>,
) -> HttpResponse {
    if setup.pending() {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/setup"))
            .finish();
    }
    html(crate::pages::home(&config.node.name))
}

async fn setup_page(config: web::Data<Arc<Config>>) -> HttpResponse {
    html(crate::pages::setup(&config.node.name))
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// CORS. Open mode keeps the old server's permissive CORS (docs/contract.md §1.3), without
/// credentials. Passphrase mode lets only the configured origins call with credentials;
/// same-origin use (the app served by the box, `/admin`) needs no CORS at all.
fn cors(config: &Config) -> Cors {
    let base = Cors::default()
        .allow_any_method()
        .allow_any_header()
        .max_age(3600);
    match config.auth.mode {
        AuthMode::Open => base.allow_any_origin(),
        AuthMode::Passphrase => {
            let allowed = config.auth.cors_origins.clone();
            base.allowed_origin_fn(move |origin, _| {
                origin
                    .to_str()
                    .is_ok_and(|o| allowed.iter().any(|a| a == o))
            })
            .supports_credentials()
        }
    }
}

/// Headers on every response, errors and refusals included.
fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=()",
        ))
        .add((
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             connect-src 'self' ws: wss:; frame-ancestors 'none'; form-action 'self'",
        ))
}

/// Gives any error answer that is not JSON yet (actix's own 405, 400 on a broken request
/// line…) a JSON body, so a client never has to parse anything else.
fn json_error_body<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let code = match status.as_u16() {
        405 => "METHOD_NOT_ALLOWED",
        404 => "ROUTE_NOT_FOUND",
        413 => "PAYLOAD_TOO_LARGE",
        s if s >= 500 => "INTERNAL",
        _ => "BAD_REQUEST",
    };
    let message = status.canonical_reason().unwrap_or("Error");
    let (req, _) = res.into_parts();
    let mut response = HttpResponse::build(status).json(json!({"error": message, "code": code}));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let response: HttpResponse<BoxBody> = response;
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    https_port: Option<u16>,
    listen: std::net::SocketAddr,
    server: Server,
    store: Store,
    realtime: Realtime,
    advertiser: Advertiser,
    sync: web::Data<crate::sync_slot::SyncSlot>,
    /// Tasks that live as long as the server (they hold the store; stopping ends them).
    background: Vec<tokio::task::JoinHandle<()>>,
    /// Run when a stop begins (the binary tells systemd `STOPPING=1`).
    stop_hooks: Vec<Box<dyn FnOnce() + Send>>,
}

/// Stops a running [`Application`] from elsewhere (a signal handler, a test).
#[derive(Clone)]
pub struct StopHandle {
    server: ServerHandle,
    realtime: Realtime,
    advertiser: Advertiser,
    sync: web::Data<crate::sync_slot::SyncSlot>,
}

impl StopHandle {
    /// Says mDNS goodbye (laptops stop offering this box), closes every realtime connection
    /// (clients reconnect to the next server), then stops HTTP gracefully: in-flight
    /// requests finish.
    pub async fn stop(&self) {
        let advertiser = self.advertiser.clone();
        let _ = tokio::task::spawn_blocking(move || advertiser.stop()).await;
        // Sync finishes the round in flight (a cut-off one is safe to repeat) and stops.
        self.sync.shutdown();
        self.realtime.rooms.close_all();
        self.server.stop(true).await;
    }
}

impl Application {
    /// Opens the store (migrating and seeding it), binds the listener and builds the server.
    pub async fn build(mut config: Config) -> Result<Application, StartupError> {
        // What the operator set from the console goes over the configuration file.
        crate::box_settings::BoxSettings::load(&config.storage.data_dir)
            .map_err(|source| StartupError::Store {
                dir: config.storage.data_dir.display().to_string(),
                source,
            })?
            .apply(&mut config);
        let sync_settings = sync_settings(&config)?;
        let data_dir = config.storage.data_dir.clone();
        let readers = config.storage.readers;
        let store = tokio::task::spawn_blocking(move || {
            Store::open(&data_dir, StoreOptions { readers })
                .map_err(|source| (data_dir.display().to_string(), source))
        })
        .await
        .expect("opening the store does not panic")
        .map_err(|(dir, source)| StartupError::Store { dir, source })?;

        let address = config.server.listen;
        let (listener, port) = bind(address)?;
        match config.auth.mode {
            AuthMode::Open => tracing::warn!(
                "auth.mode = \"open\": anyone on this network can read and change show data"
            ),
            AuthMode::Passphrase => {
                let provisioned = config
                    .auth
                    .admin_passphrase
                    .as_ref()
                    .map(|s| s.expose().to_owned())
                    .filter(|p| !p.is_empty());
                if provisioned
                    .as_ref()
                    .is_some_and(|p| p.chars().count() < crate::auth::MIN_PASSPHRASE_CHARS)
                {
                    return Err(StartupError::Config(format!(
                        "VENUEBOX_ADMIN_PASSPHRASE needs at least {} characters",
                        crate::auth::MIN_PASSPHRASE_CHARS
                    )));
                }
                let created = crate::auth::ensure_admin_passphrase(&store, provisioned)
                    .await
                    .map_err(|source| StartupError::Store {
                        dir: config.storage.data_dir.display().to_string(),
                        source,
                    })?;
                if let Some(passphrase) = &created
                    && std::env::var_os("INVOCATION_ID").is_some()
                {
                    // A systemd service: stderr is the journal, which keeps what it is given
                    // for months. The passphrase goes to a file only the service's user (and
                    // root) can read, removed once the admin has used or changed it.
                    let file = config
                        .storage
                        .data_dir
                        .join(crate::auth::FIRST_PASSPHRASE_FILE);
                    venuebox_store::write_private(&file, &format!("{passphrase}\n")).map_err(
                        |source| StartupError::Store {
                            dir: config.storage.data_dir.display().to_string(),
                            source: source.into(),
                        },
                    )?;
                    tracing::warn!(
                        file = %file.display(),
                        "a new admin passphrase was generated: read it with `sudo cat {}`; the file is removed once the admin signs in",
                        file.display()
                    );
                } else if let Some(passphrase) = created {
                    // Shown once, on the console only: the box keeps just its hash.
                    eprintln!(
                        "\n==================================================================\n\
                         Venuebox admin passphrase (shown once, write it down):\n\n    {passphrase}\n\n\
                         Sign in at http://<this box>:{port}/login. Set the crew (editor) and\n\
                         viewer passphrases with POST /api/auth/passphrases; change this one\n\
                         with `venuebox passphrase reset`.\n\
                         ==================================================================\n"
                    );
                }
            }
        }
        let https = bind_https(&config)?;
        let https_facts = https
            .as_ref()
            .map(|(_, port, identity)| (*port, identity.fingerprint.clone()));
        let sync = web::Data::new(crate::sync_slot::SyncSlot::start(
            store.clone(),
            sync_settings,
        ));
        let realtime = Realtime::new(config.realtime);
        let realtime_task = realtime.start(&store);
        let mut background = vec![realtime_task];
        if config.backup.interval_minutes > 0 {
            background.push(spawn_scheduled_backups(
                &store,
                config.backup_dir(),
                &config,
            ));
        }
        let advertiser = Advertiser::new(
            Announcement {
                instance_name: if config.mdns.instance_name.trim().is_empty() {
                    config.node.name.clone()
                } else {
                    config.mdns.instance_name.clone()
                },
                hostname: config.mdns.hostname.clone(),
                port,
                node_id: store.node_id().to_owned(),
                node_name: config.node.name.clone(),
                version: routes::server::VERSION.to_owned(),
                https: https_facts.clone(),
            },
            config.mdns.clone(),
        )?;
        if config.mdns.enabled {
            let starting = advertiser.clone();
            // The box works without mDNS (laptops can type the address): log, go on.
            match tokio::task::spawn_blocking(move || starting.start()).await {
                Ok(Ok(status)) => tracing::info!(
                    name = %status.instance_name,
                    host = %status.hostname,
                    "announcing _video-prod-api._tcp on the LAN"
                ),
                Ok(Err(err)) => {
                    tracing::warn!(%err, "mDNS announcement failed; the box is reachable by address only")
                }
                Err(err) => tracing::warn!(%err, "mDNS announcement failed"),
            }
        }
        let settings =
            crate::box_settings::BoxSettings::load(&config.storage.data_dir).map_err(|source| {
                StartupError::Store {
                    dir: config.storage.data_dir.display().to_string(),
                    source,
                }
            })?;
        let setup = crate::setup::SetupState::new(&store, &settings, config.auth.mode)
            .await
            .map_err(|source| StartupError::Store {
                dir: config.storage.data_dir.display().to_string(),
                source,
            })?;
        let configured_app =
            (!config.ui.static_dir.as_os_str().is_empty()).then(|| config.ui.static_dir.clone());
        let state = AppState {
            app: web::Data::new(crate::app_install::AppSlot::open(
                &config.storage.data_dir,
                configured_app,
            )),
            setup: web::Data::new(setup),
            metrics: web::Data::new(crate::metrics::Metrics::default()),
            auth: web::Data::new(crate::auth::AuthState::new(
                &config.auth,
                &config.storage.data_dir,
            )),
            store: store.clone(),
            realtime: realtime.clone(),
            advertiser: advertiser.clone(),
            facts: ServerFacts {
                started: Instant::now(),
                port,
                node_name: config.node.name.clone(),
                https: https_facts.clone(),
            },
            config: Arc::new(config.clone()),
            sync: sync.clone(),
            sockets: web::Data::new(crate::connections::SocketSlots::new(
                config.server.sockets_per_credential,
            )),
        };
        let counts = crate::connections::ConnectionCounts::default();
        let per_address = config.server.connections_per_address;
        let mut server = HttpServer::new(move || create_app(state.clone()))
            .on_connect(move |connection, data| counts.on_connect(per_address, connection, data))
            .client_request_timeout(Duration::from_secs(config.server.header_timeout_secs))
            .listen(listener)
            .map_err(|source| StartupError::Bind {
                address: address.to_string(),
                source,
            })?
            // In-flight requests get this long to finish on stop before workers end.
            .shutdown_timeout(10)
            // Signals are handled by `run_until_stopped`, which closes sockets first.
            .disable_signals();
        server = server.workers(http_workers(config.server.workers));
        if let Some((listener, https_port, identity)) = https {
            tracing::info!(
                port = https_port,
                fingerprint = %identity.fingerprint,
                cert = %identity.cert_file.display(),
                "serving HTTPS; the HTTP port redirects to it"
            );
            server = server
                .listen_rustls_0_23(listener, identity.config)
                .map_err(|source| StartupError::Bind {
                    address: config.server.https_listen.clone(),
                    source,
                })?;
        }
        Ok(Application {
            https_port: https_facts.map(|(port, _)| port),
            port,
            listen: config.server.listen,
            server: server.run(),
            store,
            realtime,
            advertiser,
            sync,
            background,
            stop_hooks: Vec::new(),
        })
    }

    /// Runs `hook` as soon as a stop begins, before in-flight requests are drained.
    pub fn on_stop(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.stop_hooks.push(Box::new(hook));
    }

    /// Keeps `task` running while the server runs; it is ended when the server stops.
    pub fn add_background(&mut self, task: tokio::task::JoinHandle<()>) {
        self.background.push(task);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTPS port, when HTTPS is on.
    pub fn https_port(&self) -> Option<u16> {
        self.https_port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn realtime(&self) -> &Realtime {
        &self.realtime
    }

    pub fn advertiser(&self) -> &Advertiser {
        &self.advertiser
    }

    /// Where a person can reach the box: the mDNS host name and every address.
    pub fn urls(&self) -> Vec<String> {
        crate::routes::server::reachable_urls(&self.advertiser, self.listen, self.port)
    }

    pub fn handle(&self) -> StopHandle {
        StopHandle {
            server: self.server.handle(),
            realtime: self.realtime.clone(),
            advertiser: self.advertiser.clone(),
            sync: self.sync.clone(),
        }
    }

    /// The sync engine running now.
    pub fn sync(&self) -> venuebox_sync::SyncEngine {
        self.sync.engine()
    }

    /// Serves until SIGINT/SIGTERM or [`StopHandle::stop`]; then lets in-flight requests
    /// finish, commits every queued write and stops the writer.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let stopper = self.handle();
        let stop_hooks = std::mem::take(&mut self.stop_hooks);
        let signals = tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("stopping: finishing in-flight requests");
            for hook in stop_hooks {
                hook();
            }
            stopper.stop().await;
        });
        let served = self.server.await;
        signals.abort();
        self.sync.shutdown();
        let sync_task = self.sync.take_task();
        if let Some(task) = sync_task
            && tokio::time::timeout(std::time::Duration::from_secs(15), task)
                .await
                .is_err()
        {
            tracing::warn!(
                "sync did not stop within 15 s; its round is abandoned (safe to repeat)"
            );
        }
        for task in self.background {
            task.abort();
            let _ = task.await;
        }
        let store = self.store;
        tokio::task::spawn_blocking(move || store.close())
            .await
            .expect("closing the store does not panic");
        served
    }
}

/// SIGINT (Ctrl-C) or SIGTERM (systemd).
#[cfg(unix)]
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot listen for shutdown signals");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// Ctrl-C or Ctrl-Break in the console, or the console window closed.
#[cfg(windows)]
async fn shutdown_signal() {
    use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close};
    let (Ok(mut interrupt), Ok(mut brk), Ok(mut close)) = (ctrl_c(), ctrl_break(), ctrl_close())
    else {
        tracing::error!("cannot listen for console stop events");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = brk.recv() => {}
        _ = close.recv() => {}
    }
}

/// A verified snapshot every `backup.interval_minutes`, keeping the newest `backup.keep`.
fn spawn_scheduled_backups(
    store: &Store,
    dir: std::path::PathBuf,
    config: &Config,
) -> tokio::task::JoinHandle<()> {
    let every = std::time::Duration::from_secs(config.backup.interval_minutes * 60);
    let keep = config.backup.keep;
    let store = store.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            ticks.tick().await;
            match store.backup_to(dir.clone()).await {
                Ok(file) => {
                    tracing::info!(file = %file.file, bytes = file.bytes, "scheduled backup written");
                    let pruning = dir.clone();
                    if let Ok(Err(err)) = tokio::task::spawn_blocking(move || {
                        venuebox_store::backup::prune(&pruning, keep)
                    })
                    .await
                    {
                        tracing::warn!(%err, "pruning old backups failed");
                    }
                }
                // The store is closing (shutdown): stop quietly.
                Err(venuebox_store::StoreError::Closed) => break,
                Err(err) => tracing::error!(%err, "scheduled backup failed"),
            }
        }
    })
}

/// How many HTTP workers: the configured number, else one per core up to two. A worker only
/// parses, routes, checks access and frames answers: reads run on the store's reader threads
/// and writes on its writer, so a third and fourth worker on a Pi 4 or 5 buy throughput a
/// crew never asks for, and each costs ~2.2 MB idle (its route table, runtime and allocator
/// arena: 27.4 MB idle RSS with four, 23.1 MB with two, 20.7 MB with one; issue #17).
fn http_workers(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, |cores| cores.get().min(2))
}

#[cfg(test)]
mod tests {
    use super::http_workers;

    #[test]
    fn the_default_is_one_worker_per_core_up_to_two_and_a_configured_number_stands() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(http_workers(0), cores.min(2));
        assert_eq!(http_workers(4), 4);
        assert_eq!(http_workers(1), 1);
    }
}
