//! Who is connected, which rooms they are in, who is present in which production, and
//! delivery to them.
//!
//! Delivery never waits: each connection has a bounded queue (messages and bytes), a frame
//! is encoded once and offered to every member with `try_send`, and a connection whose queue
//! is full is evicted — its queue is dropped, so its session closes the WebSocket. One slow
//! laptop can therefore neither grow the box's memory nor delay anyone else, and a write
//! never waits for a socket.
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytestring::ByteString;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::protocol;

pub type Sid = String;

pub const PRODUCTION_LIST_ROOM: &str = "production-list";

pub fn production_room(production_id: &str) -> String {
    format!("production:{production_id}")
}

/// Limits of one connection's outgoing queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub max_messages: usize,
    pub max_bytes: usize,
}

/// The receiving end of a connection's queue, owned by its session.
pub struct SendQueue {
    pub frames: mpsc::Receiver<ByteString>,
    queued_bytes: Arc<AtomicUsize>,
}

impl SendQueue {
    /// Takes the next frame; `None` once [`Rooms`] has dropped the connection.
    pub async fn next(&mut self) -> Option<ByteString> {
        let frame = self.frames.recv().await?;
        self.queued_bytes.fetch_sub(frame.len(), Ordering::Relaxed);
        Some(frame)
    }
}

/// Who holds a socket, as the admin console lists it.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientFacts {
    /// `viewer`, `editor` or `admin`.
    pub role: String,
    /// `token:<id>`, `session` or `open`: never the secret itself.
    pub credential: String,
    pub address: String,
    pub connected_at: String,
}

/// One connected socket, for the admin console.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectedClient {
    #[serde(flatten)]
    pub facts: ClientFacts,
    /// The productions it has joined, with the name its user gave there.
    pub present_in: Vec<Value>,
}

struct Connection {
    facts: ClientFacts,
    queue: mpsc::Sender<ByteString>,
    queued_bytes: Arc<AtomicUsize>,
    rooms: HashSet<String>,
    /// (production, user) pairs this socket made present.
    present_as: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct PresentUser {
    name: String,
    /// Every socket through which the user is present, oldest first.
    sockets: Vec<Sid>,
}

#[derive(Default)]
struct State {
    connections: HashMap<Sid, Connection>,
    rooms: HashMap<String, HashSet<Sid>>,
    /// production → users in the order they arrived.
    presence: HashMap<String, Vec<(String, PresentUser)>>,
}

/// Who is to receive a frame.
#[derive(Debug, Clone)]
pub enum Audience {
    Room(String),
    RoomExcept(String, Sid),
    Everyone,
}

/// The switchboard of connected sockets: their queues, their rooms, who is present where.
pub struct Rooms {
    state: Mutex<State>,
    limits: QueueLimits,
    evictions: AtomicUsize,
}

impl Rooms {
    pub fn new(limits: QueueLimits) -> Arc<Rooms> {
        Arc::new(Rooms {
            state: Mutex::new(State::default()),
            limits,
            evictions: AtomicUsize::new(0),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind; keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a new connection and returns the queue its session reads.
    pub fn connect(&self, sid: &str) -> SendQueue {
        self.connect_as(sid, ClientFacts::default())
    }

    /// [`Rooms::connect`], with who holds the socket.
    pub fn connect_as(&self, sid: &str, facts: ClientFacts) -> SendQueue {
        let (queue, frames) = mpsc::channel(self.limits.max_messages.max(1));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        self.state().connections.insert(
            sid.to_owned(),
            Connection {
                facts,
                queue,
                queued_bytes: queued_bytes.clone(),
                rooms: HashSet::new(),
                present_as: Vec::new(),
            },
        );
        SendQueue {
            frames,
            queued_bytes,
        }
    }

    /// Forgets a connection: it leaves every room and its presence ends.
    pub fn disconnect(&self, sid: &str) {
        let mut state = self.state();
        let mut pending = vec![sid.to_owned()];
        while let Some(gone) = pending.pop() {
            pending.extend(remove_connection(&mut state, &gone, self));
        }
    }

    /// Every connected socket: who holds it and where its user is present, oldest first.
    pub fn clients(&self) -> Vec<ConnectedClient> {
        let state = self.state();
        let mut clients: Vec<ConnectedClient> = state
            .connections
            .values()
            .map(|c| ConnectedClient {
                facts: c.facts.clone(),
                present_in: c
                    .present_as
                    .iter()
                    .map(|(production, user)| {
                        let name = state
                            .presence
                            .get(production)
                            .and_then(|users| users.iter().find(|(id, _)| id == user))
                            .map(|(_, u)| u.name.clone())
                            .unwrap_or_default();
                        json!({"productionId": production, "userName": name})
                    })
                    .collect(),
            })
            .collect();
        clients.sort_by(|a, b| a.facts.connected_at.cmp(&b.facts.connected_at));
        clients
    }

    pub fn connection_count(&self) -> usize {
        self.state().connections.len()
    }

    /// How many connections were dropped for not keeping up.
    pub fn evictions(&self) -> usize {
        self.evictions.load(Ordering::Relaxed)
    }

    pub fn is_member(&self, sid: &str, room: &str) -> bool {
        self.state()
            .rooms
            .get(room)
            .is_some_and(|members| members.contains(sid))
    }

    /// Drops every connection (shutdown): each session closes its WebSocket.
    pub fn close_all(&self) {
        let mut state = self.state();
        state.connections.clear();
        state.rooms.clear();
        state.presence.clear();
    }

    pub fn join_room(&self, sid: &str, room: &str) {
        let mut state = self.state();
        if let Some(connection) = state.connections.get_mut(sid) {
            connection.rooms.insert(room.to_owned());
            state
                .rooms
                .entry(room.to_owned())
                .or_default()
                .insert(sid.to_owned());
        }
    }

    pub fn leave_room(&self, sid: &str, room: &str) {
        let mut state = self.state();
        if let Some(connection) = state.connections.get_mut(sid) {
            connection.rooms.remove(room);
        }
        if let Some(members) = state.rooms.get_mut(room) {
            members.remove(sid);
            if members.is_empty() {
                state.rooms.remove(room);
            }
        }
    }

    /// `production:join`: the socket joins the show's room and its user is present there.
    pub fn join_production(&self, sid: &str, production_id: &str, user_id: &str, user_name: &str) {
        let room = production_room(production_id);
        self.join_room(sid, &room);
        let mut state = self.state();
        let Some(connection) = state.connections.get_mut(sid) else {
            return;
        };
        let pair = (production_id.to_owned(), user_id.to_owned());
        if !connection.present_as.contains(&pair) {
            connection.present_as.push(pair);
        }
        let users = state.presence.entry(production_id.to_owned()).or_default();
        match users.iter_mut().find(|(id, _)| id == user_id) {
            Some((_, user)) => {
                user.name = user_name.to_owned();
                if !user.sockets.iter().any(|s| s == sid) {
                    user.sockets.push(sid.to_owned());
                }
            }
            None => users.push((
                user_id.to_owned(),
                PresentUser {
                    name: user_name.to_owned(),
                    sockets: vec![sid.to_owned()],
                },
            )),
        }
        self.announce_presence(&mut state, production_id);
    }

    /// `production:leave`: this socket leaves; the user stays present through their others.
    pub fn leave_production(&self, sid: &str, production_id: &str) {
        self.leave_room(sid, &production_room(production_id));
        let mut state = self.state();
        if let Some(connection) = state.connections.get_mut(sid) {
            connection.present_as.retain(|(p, _)| p != production_id);
        }
        if drop_presence(&mut state, sid, production_id) {
            self.announce_presence(&mut state, production_id);
        }
    }

    /// Leaves every room and ends every presence of a socket (Socket.IO `41`).
    pub fn leave_everything(&self, sid: &str) {
        let (rooms, productions) = {
            let state = self.state();
            match state.connections.get(sid) {
                Some(c) => (
                    c.rooms.iter().cloned().collect::<Vec<_>>(),
                    c.present_as
                        .iter()
                        .map(|(p, _)| p.clone())
                        .collect::<Vec<_>>(),
                ),
                None => return,
            }
        };
        for production in productions {
            self.leave_production(sid, &production);
        }
        for room in rooms {
            self.leave_room(sid, &room);
        }
    }

    /// The `presence:update` payload: each user once.
    pub fn presence(&self, production_id: &str) -> Value {
        presence_payload(&self.state(), production_id)
    }

    fn announce_presence(&self, state: &mut State, production_id: &str) {
        let payload = presence_payload(state, production_id);
        let frame = protocol::encode_event("presence:update", &payload);
        self.deliver_locked(
            state,
            &Audience::Room(production_room(production_id)),
            frame.into(),
        );
    }

    /// Sends an event (encoded once, and only if someone is there) to an audience; never waits.
    pub fn emit(&self, audience: &Audience, event: &str, payload: &Value) {
        let mut state = self.state();
        let anyone = match audience {
            Audience::Everyone => !state.connections.is_empty(),
            Audience::Room(room) | Audience::RoomExcept(room, _) => state.rooms.contains_key(room),
        };
        if anyone {
            let frame: ByteString = protocol::encode_event(event, payload).into();
            self.deliver_locked(&mut state, audience, frame);
        }
    }

    /// Sends a frame to one connection (a reply); evicts it if its queue is full.
    pub fn send_to(&self, sid: &str, frame: String) {
        let mut state = self.state();
        let overflowing = match state.connections.get(sid) {
            Some(connection) => !self.offer(connection, frame.into()),
            None => false,
        };
        if overflowing {
            self.evict(&mut state, vec![sid.to_owned()]);
        }
    }

    fn offer(&self, connection: &Connection, frame: ByteString) -> bool {
        let size = frame.len();
        let queued = connection.queued_bytes.load(Ordering::Relaxed);
        if queued + size > self.limits.max_bytes {
            return false;
        }
        match connection.queue.try_send(frame) {
            Ok(()) => {
                connection.queued_bytes.fetch_add(size, Ordering::Relaxed);
                true
            }
            // Full: the client is not keeping up. Closed: its session already ended.
            Err(_) => false,
        }
    }

    fn deliver_locked(&self, state: &mut State, audience: &Audience, frame: ByteString) {
        let targets: Vec<Sid> = match audience {
            Audience::Everyone => state.connections.keys().cloned().collect(),
            Audience::Room(room) => state
                .rooms
                .get(room)
                .map(|m| m.iter().cloned().collect())
                .unwrap_or_default(),
            Audience::RoomExcept(room, except) => state
                .rooms
                .get(room)
                .map(|m| m.iter().filter(|s| *s != except).cloned().collect())
                .unwrap_or_default(),
        };
        let mut overflowing = Vec::new();
        for sid in targets {
            if let Some(connection) = state.connections.get(&sid)
                && !self.offer(connection, frame.clone())
            {
                overflowing.push(sid);
            }
        }
        if !overflowing.is_empty() {
            self.evict(state, overflowing);
        }
    }

    fn evict(&self, state: &mut State, mut sids: Vec<Sid>) {
        while let Some(sid) = sids.pop() {
            if state.connections.contains_key(&sid) {
                self.evictions.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%sid, "realtime client is not keeping up; disconnecting it");
                sids.extend(remove_connection(state, &sid, self));
            }
        }
    }
}

/// Removes a connection (dropping its queue ends its session) and announces the presence
/// changes; returns connections that overflowed while those announcements were delivered.
fn remove_connection(state: &mut State, sid: &str, rooms: &Rooms) -> Vec<Sid> {
    let Some(connection) = state.connections.remove(sid) else {
        return Vec::new();
    };
    for room in &connection.rooms {
        if let Some(members) = state.rooms.get_mut(room) {
            members.remove(sid);
            if members.is_empty() {
                state.rooms.remove(room);
            }
        }
    }
    let mut overflowing = Vec::new();
    for (production_id, _) in &connection.present_as {
        if drop_presence(state, sid, production_id) {
            let payload = presence_payload(state, production_id);
            let frame: ByteString = protocol::encode_event("presence:update", &payload).into();
            let room = production_room(production_id);
            let members: Vec<Sid> = state
                .rooms
                .get(&room)
                .map(|m| m.iter().cloned().collect())
                .unwrap_or_default();
            for member in members {
                if let Some(c) = state.connections.get(&member)
                    && !rooms.offer(c, frame.clone())
                {
                    overflowing.push(member);
                }
            }
        }
    }
    overflowing
}

/// Removes one socket from a production's presence; true if it was there (the list, or the
/// `socketId` shown for its user, changed).
fn drop_presence(state: &mut State, sid: &str, production_id: &str) -> bool {
    let Some(users) = state.presence.get_mut(production_id) else {
        return false;
    };
    let mut removed = false;
    for (_, user) in users.iter_mut() {
        let before = user.sockets.len();
        user.sockets.retain(|s| s != sid);
        removed |= user.sockets.len() != before;
    }
    users.retain(|(_, user)| !user.sockets.is_empty());
    if users.is_empty() {
        state.presence.remove(production_id);
    }
    removed
}

fn presence_payload(state: &State, production_id: &str) -> Value {
    let users = state
        .presence
        .get(production_id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    Value::Array(
        users
            .iter()
            .map(|(id, user)| json!({"userId": id, "userName": user.name, "socketId": user.sockets[0]}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooms() -> Arc<Rooms> {
        Rooms::new(QueueLimits {
            max_messages: 8,
            max_bytes: 1 << 20,
        })
    }

    fn drain(sends: &mut SendQueue) -> Vec<String> {
        let mut frames = Vec::new();
        while let Ok(frame) = sends.frames.try_recv() {
            sends.queued_bytes.fetch_sub(frame.len(), Ordering::Relaxed);
            frames.push(frame.to_string());
        }
        frames
    }

    #[test]
    fn a_user_with_several_sockets_stays_present_until_the_last_leaves() {
        let rooms = rooms();
        let mut watcher = rooms.connect("w");
        rooms.join_production("w", "p", "watcher", "Watcher");
        let _a = rooms.connect("a");
        let _b = rooms.connect("b");
        rooms.join_production("a", "p", "ann", "Ann");
        rooms.join_production("b", "p", "ann", "Ann");
        let users = rooms.presence("p");
        assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
        rooms.disconnect("a");
        assert_eq!(
            rooms.presence("p").as_array().unwrap().len(),
            2,
            "Ann is still here through b"
        );
        rooms.leave_production("b", "p");
        let users = rooms.presence("p");
        assert_eq!(
            users,
            json!([{"userId": "watcher", "userName": "Watcher", "socketId": "w"}])
        );
        let frames = drain(&mut watcher);
        assert!(frames.last().unwrap().starts_with("42[\"presence:update\""));
    }

    #[test]
    fn a_full_queue_evicts_only_that_connection() {
        let rooms = rooms();
        let mut slow = rooms.connect("slow");
        let mut fast = rooms.connect("fast");
        rooms.join_room("slow", "r");
        rooms.join_room("fast", "r");
        for n in 0..20 {
            rooms.emit(&Audience::Room("r".into()), "tick", &json!(n));
            drain(&mut fast);
        }
        assert_eq!(rooms.evictions(), 1);
        assert_eq!(rooms.connection_count(), 1);
        // The evicted session sees its queue end after the frames already queued.
        assert_eq!(drain(&mut slow).len(), 8);
        assert!(slow.frames.try_recv().is_err());
    }

    #[test]
    fn the_byte_budget_bounds_a_queue_too() {
        let rooms = Rooms::new(QueueLimits {
            max_messages: 1000,
            max_bytes: 100,
        });
        let _slow = rooms.connect("slow");
        rooms.join_room("slow", "r");
        rooms.emit(&Audience::Room("r".into()), "big", &json!("x".repeat(200)));
        assert_eq!(rooms.connection_count(), 0);
    }

    #[test]
    fn room_except_skips_the_sender() {
        let rooms = rooms();
        let mut a = rooms.connect("a");
        let mut b = rooms.connect("b");
        rooms.join_room("a", "r");
        rooms.join_room("b", "r");
        rooms.emit(
            &Audience::RoomExcept("r".into(), "a".into()),
            "x",
            &json!(1),
        );
        assert!(drain(&mut a).is_empty());
        assert_eq!(drain(&mut b), vec!["42[\"x\",1]".to_owned()]);
    }
}
