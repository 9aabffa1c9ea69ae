//! One client connection: `GET /socket.io/?EIO=4&transport=websocket`, upgraded with
//! actix-ws, speaking Engine.IO v4 and Socket.IO v5 on the default namespace.
//!
//! The session task owns the WebSocket. It reads client packets, writes what [`Rooms`] queued for it
//! for it, pings every `ping_interval` and closes a peer that does not answer within
//! `ping_timeout`. A write that the client does not accept within `ping_timeout` also ends
//! the session, so a stalled laptop never holds a task or memory for long.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use bytestring::ByteString;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until, timeout};

use crate::protocol::{self, EnginePacket, SocketPacket};
use crate::rooms::{Audience, PRODUCTION_LIST_ROOM, Rooms, SendQueue, production_room};
use crate::{Realtime, RealtimeSettings};

/// An Engine.IO handshake error (the JSON shape Engine.IO servers answer with).
fn refuse(code: u8, message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"code": code, "message": message, "error": message}))
}

fn new_sid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Who is on the other end of a socket, as their credential says (the API decides; this
/// crate only applies it).
#[derive(Debug, Clone)]
pub struct Caller {
    /// May relay `production:change` to the room (the crew); viewers only listen.
    pub may_change: bool,
    /// The `userId` others see on what this socket relays, from the credential; `None` in
    /// open mode, where there are no credentials and the client's own word is all there is.
    pub user_id: Option<String>,
    /// What the admin console lists for this socket (role, credential, address).
    pub facts: crate::rooms::ClientFacts,
}

/// The Socket.IO handshake: upgrades to a websocket and serves it until it ends, or until
/// `ended` completes (its credential was revoked, signed out or rotated). `held` is whatever
/// the caller wants kept for the socket's lifetime (the API keeps the socket's
/// per-credential slot there); it is dropped when the socket ends.
pub async fn accept<H: 'static>(
    req: HttpRequest,
    body: web::Payload,
    realtime: &Realtime,
    caller: Caller,
    held: H,
    ended: impl std::future::Future<Output = ()> + 'static,
) -> actix_web::Result<HttpResponse> {
    let query: HashMap<String, String> =
        web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .map(web::Query::into_inner)
            .unwrap_or_default();
    if query.get("EIO").map(String::as_str) != Some("4") {
        return Ok(refuse(5, "Unsupported protocol version"));
    }
    if query.get("transport").map(String::as_str) != Some("websocket") {
        // The crew app opens a WebSocket directly; HTTP long-polling is not served.
        return Ok(refuse(0, "Transport unknown"));
    }
    if query.contains_key("sid") {
        return Ok(refuse(1, "Session ID unknown"));
    }
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let settings = realtime.settings;
    let rooms = realtime.rooms.clone();
    let sid = new_sid();
    let sends = rooms.connect_as(&sid, caller.facts.clone());
    let stream = stream
        .max_frame_size(settings.max_payload_bytes)
        .aggregate_continuations()
        .max_continuation_size(settings.max_payload_bytes);
    actix_web::rt::spawn(async move {
        let mut connection = Connection {
            rooms: rooms.clone(),
            settings,
            sid: sid.clone(),
            session,
            socket_sid: None,
            ping_at: Instant::now() + settings.ping_interval(),
            pong_deadline: None,
            caller,
        };
        let reason = connection.run(stream, sends, Box::pin(ended)).await;
        rooms.disconnect(&sid);
        tracing::debug!(%sid, ?reason, "realtime client disconnected");
        let _ = connection.session.close(reason).await;
        drop(held);
    });
    Ok(response)
}

struct Connection {
    rooms: Arc<Rooms>,
    settings: RealtimeSettings,
    sid: String,
    session: Session,
    /// Set once the client connected to the default namespace.
    socket_sid: Option<String>,
    ping_at: Instant,
    pong_deadline: Option<Instant>,
    caller: Caller,
}

fn close(code: CloseCode, description: &str) -> Option<CloseReason> {
    Some(CloseReason {
        code,
        description: Some(description.to_owned()),
    })
}

impl Connection {
    async fn run(
        &mut self,
        mut stream: actix_ws::AggregatedMessageStream,
        mut sends: SendQueue,
        mut ended: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
    ) -> Option<CloseReason> {
        let open = protocol::encode_open(
            &self.sid,
            self.settings.ping_interval_ms,
            self.settings.ping_timeout_ms,
            self.settings.max_payload_bytes,
        );
        if !self.send(open).await {
            return None;
        }
        loop {
            let wake = self.pong_deadline.unwrap_or(self.ping_at);
            tokio::select! {
                _ = &mut ended => {
                    // Nothing more for a credential that no longer holds: a disconnect the
                    // client library reports, then the close.
                    self.send(protocol::encode_disconnect()).await;
                    return close(CloseCode::Policy, "signed out");
                }
                incoming = stream.recv() => match incoming {
                    None => return None,
                    Some(Err(err)) => {
                        tracing::debug!(sid = %self.sid, %err, "unreadable WebSocket frame");
                        return close(CloseCode::Protocol, "unreadable frame or payload too large");
                    }
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        if let Some(reason) = self.on_text(&text).await {
                            return reason;
                        }
                    }
                    Some(Ok(AggregatedMessage::Binary(_))) => {
                        self.send(protocol::encode_disconnect()).await;
                        return close(CloseCode::Unsupported, "binary frames are not supported");
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        let _ = self.session.pong(&bytes).await;
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Close(_))) => return None,
                },
                frame = sends.next() => match frame {
                    Some(frame) => {
                        if !self.send(frame).await {
                            return close(CloseCode::Policy, "client is not reading");
                        }
                    }
                    // Rooms dropped us: too slow to keep up with the room.
                    None => return close(CloseCode::Policy, "client is not keeping up"),
                },
                _ = sleep_until(wake) => {
                    if self.pong_deadline.is_some() {
                        return close(CloseCode::Normal, "ping timeout");
                    }
                    if !self.send(protocol::ENGINE_PING).await {
                        return None;
                    }
                    self.pong_deadline = Some(Instant::now() + self.settings.ping_timeout());
                }
            }
        }
    }

    /// Writes one frame; false if the client did not take it within the ping timeout.
    async fn send(&mut self, frame: impl Into<ByteString>) -> bool {
        matches!(
            timeout(self.settings.ping_timeout(), self.session.text(frame)).await,
            Ok(Ok(()))
        )
    }

    /// Handles one Engine.IO packet; `Some(reason)` ends the session.
    async fn on_text(&mut self, text: &str) -> Option<Option<CloseReason>> {
        let packet = match protocol::decode_engine(text) {
            Ok(packet) => packet,
            Err(err) => {
                tracing::debug!(sid = %self.sid, %err, "bad Engine.IO packet");
                return Some(close(CloseCode::Protocol, "bad Engine.IO packet"));
            }
        };
        match packet {
            EnginePacket::Close => return Some(None),
            EnginePacket::Ping(data) => {
                let pong = format!("3{data}");
                if !self.send(pong).await {
                    return Some(None);
                }
            }
            EnginePacket::Pong(_) => {
                self.pong_deadline = None;
                self.ping_at = Instant::now() + self.settings.ping_interval();
            }
            EnginePacket::Upgrade | EnginePacket::Noop => {}
            EnginePacket::Message(data) => return self.on_socket_packet(data).await,
        }
        None
    }

    async fn on_socket_packet(&mut self, data: &str) -> Option<Option<CloseReason>> {
        let packet = match protocol::decode_socket(data) {
            Ok(packet) => packet,
            Err(err) => {
                tracing::debug!(sid = %self.sid, %err, "bad Socket.IO packet");
                return Some(close(CloseCode::Protocol, "bad Socket.IO packet"));
            }
        };
        match packet {
            SocketPacket::Connect { namespace, .. } if namespace == "/" => {
                let socket_sid = self.socket_sid.get_or_insert_with(new_sid).clone();
                if !self.send(protocol::encode_connect(&socket_sid)).await {
                    return Some(None);
                }
            }
            SocketPacket::Connect { namespace, .. } => {
                let refusal = protocol::encode_connect_error(&namespace, "Invalid namespace");
                if !self.send(refusal).await {
                    return Some(None);
                }
            }
            SocketPacket::Disconnect { namespace } if namespace == "/" => {
                self.rooms.leave_everything(&self.sid);
                self.socket_sid = None;
            }
            SocketPacket::Event {
                namespace,
                ack_id,
                name,
                payload,
            } if namespace == "/" && self.socket_sid.is_some() => {
                self.on_event(&name, payload.first().unwrap_or(&Value::Null));
                if let Some(id) = ack_id
                    && !self.send(protocol::encode_ack(id, &[])).await
                {
                    return Some(None);
                }
            }
            // Packets for namespaces the client never connected to are ignored, as Socket.IO does.
            SocketPacket::Disconnect { .. }
            | SocketPacket::Event { .. }
            | SocketPacket::Ack { .. } => {}
            SocketPacket::Binary => {
                self.send(protocol::encode_disconnect()).await;
                return Some(close(
                    CloseCode::Unsupported,
                    "binary packets are not supported",
                ));
            }
        }
        None
    }

    /// The client events of docs/contract.md §5.3.
    fn on_event(&mut self, name: &str, data: &Value) {
        let text = |key: &str| {
            data.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let claimed_id = text("userId").unwrap_or("anonymous");
        let user_id = self.caller.user_id.as_deref().unwrap_or(claimed_id);
        let user_name = text("userName").unwrap_or(user_id);
        match (name, text("productionId")) {
            ("production:join", Some(production)) => {
                self.rooms
                    .join_production(&self.sid, production, user_id, user_name);
            }
            ("production:leave", Some(production)) => {
                self.rooms.leave_production(&self.sid, production);
            }
            ("production-list:join", _) => self.rooms.join_room(&self.sid, PRODUCTION_LIST_ROOM),
            ("production-list:leave", _) => self.rooms.leave_room(&self.sid, PRODUCTION_LIST_ROOM),
            ("production:change", Some(_)) if !self.caller.may_change => {
                tracing::debug!(sid = %self.sid, "production:change from a viewer not relayed");
            }
            ("production:change", Some(production)) => {
                // Relayed only into a room the sender is in.
                let room = production_room(production);
                if self.rooms.is_member(&self.sid, &room) {
                    let payload = json!({
                        "userId": user_id,
                        "userName": user_name,
                        "changeType": data.get("changeType").cloned().unwrap_or(Value::Null),
                        "data": data.get("data").cloned().unwrap_or(Value::Null),
                    });
                    self.rooms.emit(
                        &Audience::RoomExcept(room, self.sid.clone()),
                        "production:change",
                        &payload,
                    );
                }
            }
            (other, _) => tracing::debug!(sid = %self.sid, event = other, "ignored client event"),
        }
    }
}

impl RealtimeSettings {
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }
    pub fn ping_timeout(&self) -> Duration {
        Duration::from_millis(self.ping_timeout_ms)
    }
}
