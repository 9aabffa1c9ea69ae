//! What one client may hold of the box. The venue Wi-Fi is shared with strangers, and a box
//! whose file descriptors, workers or sockets one host can take is a box the crew cannot
//! use. The bounds, each chosen to sit far above what a crew laptop does:
//!
//! * **connections per address** (`server.connections_per_address`): a connection beyond it
//!   is shut at accept, before a byte of it is read. A browser holds six to ten.
//! * **connections per address before authentication**
//!   (`server.unauthenticated_connections_per_address`): once an address holds more, its
//!   requests are served only if they carry valid crew credentials; the rest get
//!   `429 TOO_MANY_CONNECTIONS` and the connection is closed. A stranger's flood is answered
//!   in microseconds and let go; a signed-in laptop is never counted against it.
//! * **time to send a request**: headers within `server.header_timeout_secs` (actix's client
//!   request timeout), the whole body within `server.body_timeout_secs` of the handler
//!   asking for it ([`body_deadline`]; `408 BODY_TIMEOUT`), so a request that announces 100
//!   bytes and sends one cannot hold its connection and worker for minutes.
//! * **websockets per credential** (`server.sockets_per_credential`, [`SocketSlots`]): one
//!   session or token cannot open sockets without end.
//!
//! The process also raises its open-file limit to the hard limit at start (the binary does
//! it; the systemd unit sets `LimitNOFILE`), since systemd's default soft limit of 1,024 is
//! what a thousand idle connections exhausted.
use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, ResponseError, web};
use futures_util::Stream;

use crate::auth::{AuthState, Credential, Principal, Role, gate};
use crate::error::ApiError;

/// Open connections per client address, shared by every worker.
#[derive(Clone, Default)]
pub struct ConnectionCounts(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One open connection, kept in the connection's own data: counted out when it closes.
pub struct OpenConnection {
    counts: ConnectionCounts,
    ip: IpAddr,
    /// Connections this address held when this one opened, itself included.
    pub held_at_open: usize,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let mut counts = self.counts.lock();
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

impl ConnectionCounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections `ip` holds now.
    pub fn held(&self, ip: IpAddr) -> usize {
        self.lock().get(&ip).copied().unwrap_or(0)
    }

    /// `HttpServer::on_connect`: counts the connection in, and shuts it at once if its
    /// address already holds `cap`.
    pub fn on_connect(&self, cap: usize, connection: &dyn Any, data: &mut Extensions) {
        type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
        let stream = match connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
            Some(plain) => plain,
            None => match connection.downcast_ref::<Tls>() {
                Some(tls) => tls.get_ref().0,
                None => return,
            },
        };
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        let ip = peer.ip();
        let held_at_open = {
            let mut counts = self.lock();
            let count = counts.entry(ip).or_insert(0);
            *count += 1;
            *count
        };
        if held_at_open > cap {
            // Read end and write end both: the dispatcher sees the connection closed before
            // it reads a request.
            let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both);
            tracing::debug!(%ip, held_at_open, "connection over the per-address cap shut");
        }
        data.insert(OpenConnection {
            counts: self.clone(),
            ip,
            held_at_open,
        });
    }
}

/// The limits of this module as the middleware reads them.
#[derive(Clone, Copy)]
pub struct ClientLimits {
    pub unauthenticated_per_address: usize,
    pub body_timeout: Duration,
}

/// Middleware: requests from an address holding more connections than strangers may are
/// served only with valid credentials; bodies get their deadline.
pub async fn admit(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limits = *req
        .app_data::<web::Data<ClientLimits>>()
        .expect("client limits are registered")
        .get_ref();
    let crowded = req
        .conn_data::<OpenConnection>()
        .is_some_and(|open| open.counts.held(open.ip) > limits.unauthenticated_per_address);
    if crowded && !matches!(gate::principal(&req).await, Ok(Some(_))) {
        let mut response = ApiError::TooManyConnections.error_response();
        // Disconnected, not kept alive: the stranger's connection is what it must give up.
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(req.into_response(response));
    }
    // Only a request with a body gets the deadline (most are GETs without one); a websocket's
    // stream is its request body and lives for hours: no deadline there.
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    if has_body && !headers.contains_key(header::UPGRADE) {
        let payload = req.take_payload();
        req.set_payload(Payload::from(
            Box::pin(body_deadline(payload, limits.body_timeout))
                as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>,
        ));
    }
    next.call(req).await
}

/// The request body, ending in an error if it has not all arrived `timeout` after the handler
/// first asked for it.
pub fn body_deadline(
    payload: Payload,
    timeout: Duration,
) -> impl Stream<Item = Result<Bytes, PayloadError>> {
    BodyDeadline {
        payload,
        timeout,
        deadline: None,
    }
}

struct BodyDeadline {
    payload: Payload,
    timeout: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Stream for BodyDeadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Poll::Ready(item) = Pin::new(&mut this.payload).poll_next(cx) {
            return Poll::Ready(item);
        }
        let timeout = this.timeout;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Websockets per credential (a browser session, a device token). Open mode is not
/// counted: everyone there is one caller.
#[derive(Clone)]
pub struct SocketSlots {
    cap: usize,
    held: Arc<Mutex<HashMap<Credential, usize>>>,
}

/// One websocket's slot; given back when the socket ends.
pub struct SocketSlot {
    slots: SocketSlots,
    credential: Credential,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut held = self.slots.lock();
        if let Some(count) = held.get_mut(&self.credential) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.credential);
            }
        }
    }
}

/// The Socket.IO route: the caller's socket slot, then the realtime handshake, which keeps
/// the slot until the socket ends, and ends the socket as soon as its credential stops
/// holding (a revoked token, a signed-out session, a rotated passphrase). Identity on
/// relayed events comes from the credential, not from what the client claims.
pub async fn socket(
    req: actix_web::HttpRequest,
    body: web::Payload,
    realtime: web::Data<venuebox_realtime::Realtime>,
    slots: web::Data<SocketSlots>,
    auth: web::Data<AuthState>,
) -> actix_web::Result<actix_web::HttpResponse> {
    let caller = req
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal {
            role: Role::Admin,
            credential: Credential::Open,
            ambient: false,
        });
    let may_change = caller.role >= Role::Editor;
    let user_id = match &caller.credential {
        Credential::Open => None,
        Credential::Token(id) => Some(format!("token:{id}")),
        // A prefix of the session's stored hash: stable for the session, useless to anyone.
        Credential::Session(hash) => Some(format!("session:{}", &hash[..hash.len().min(8)])),
    };
    let slot = match caller.credential {
        Credential::Open => None,
        _ => Some(slots.take(&caller.credential)?),
    };
    let ended = auth.until_ended(&caller);
    let facts = venuebox_realtime::ClientFacts {
        role: caller.role.as_str().to_owned(),
        credential: match &caller.credential {
            Credential::Open => "open".to_owned(),
            Credential::Token(id) => format!("token:{id}"),
            Credential::Session(_) => "session".to_owned(),
        },
        address: req
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        connected_at: venuebox_store::clock::now_iso(),
    };
    let identified = venuebox_realtime::Caller {
        may_change,
        user_id,
        facts,
    };
    venuebox_realtime::accept(req, body, &realtime, identified, slot, ended).await
}

impl SocketSlots {
    pub fn new(cap: usize) -> SocketSlots {
        SocketSlots {
            cap: cap.max(1),
            held: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Credential, usize>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for one more socket of `credential`, unless it holds `cap` already.
    pub fn take(&self, credential: &Credential) -> Result<SocketSlot, ApiError> {
        let mut held = self.lock();
        let count = held.entry(credential.clone()).or_insert(0);
        if *count >= self.cap {
            return Err(ApiError::TooManySockets { cap: self.cap });
        }
        *count += 1;
        Ok(SocketSlot {
            slots: self.clone(),
            credential: credential.clone(),
        })
    }
}
