//! Realtime updates for every laptop: the subset of Socket.IO (Engine.IO v4 over a direct
//! WebSocket, Socket.IO v5, default namespace) that the crew app speaks, on actix-ws.
//!
//! * [`protocol`]: packet encoding and decoding, with unit tests from the specifications.
//! * [`rooms`]: connections, rooms, presence and non-blocking delivery with bounded queues.
//! * [`session`]: one WebSocket's handshake, heartbeat and client events.
//! * [`emitter`]: committed writes from the store → `entity:*`, `production:*`,
//!   `equipment:updated`, `settings:*-updated` events, driven by the registry.
pub mod emitter;
pub mod protocol;
pub mod rooms;
mod session;

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use venuebox_store::{Store, clock};

pub use rooms::{Audience, ClientFacts, ConnectedClient, QueueLimits, Rooms};
/// The Socket.IO handshake handler (`GET /socket.io/`); the API registers it behind its access gate.
pub use session::{Caller, accept};

/// `[realtime]` settings.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeSettings {
    /// How often the server pings each client (Engine.IO `pingInterval`).
    pub ping_interval_ms: u64,
    /// How long a client has to answer a ping, or to accept a write (`pingTimeout`).
    pub ping_timeout_ms: u64,
    /// Largest packet a client may send (`maxPayload`).
    pub max_payload_bytes: usize,
    /// A client whose outgoing queue exceeds either bound is disconnected.
    pub max_queued_messages: usize,
    pub max_queued_bytes: usize,
}

impl Default for RealtimeSettings {
    fn default() -> Self {
        // The old server's Socket.IO defaults (docs/contract.md §5.1).
        RealtimeSettings {
            ping_interval_ms: 25_000,
            ping_timeout_ms: 20_000,
            max_payload_bytes: 1_000_000,
            max_queued_messages: 4096,
            max_queued_bytes: 8 * 1024 * 1024,
        }
    }
}

/// The realtime service: its rooms and settings. Cheap to clone.
#[derive(Clone)]
pub struct Realtime {
    pub rooms: Arc<Rooms>,
    pub settings: RealtimeSettings,
}

impl Realtime {
    pub fn new(settings: RealtimeSettings) -> Realtime {
        Realtime {
            rooms: Rooms::new(QueueLimits {
                max_messages: settings.max_queued_messages,
                max_bytes: settings.max_queued_bytes,
            }),
            settings,
        }
    }

    /// Starts forwarding the store's committed writes to connected clients.
    pub fn start(&self, store: &Store) -> tokio::task::JoinHandle<()> {
        emitter::spawn(store, self.rooms.clone())
    }
}

/// `POST /api/server/global-reset`: tells every open app to clear its local data
/// (docs/contract.md §3.1). It does not touch the box's database.
pub async fn global_reset(realtime: web::Data<Realtime>) -> HttpResponse {
    let clients = realtime.rooms.connection_count();
    realtime.rooms.emit(
        &Audience::Everyone,
        "app:global-reset",
        &json!({"timestamp": clock::now_ms(), "message": "Database has been reset. Clearing local data..."}),
    );
    HttpResponse::Ok().json(json!({
        "success": true,
        "message": format!("Global reset sent to {clients} connected clients"),
    }))
}
