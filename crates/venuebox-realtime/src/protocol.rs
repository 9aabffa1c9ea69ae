//! Engine.IO v4 and Socket.IO v5 packets, as far as the crew app uses them: a WebSocket
//! transport (one packet per text frame), the default namespace, JSON events and acks.
//! Pure encoding and decoding, no I/O.
//!
//! Engine.IO: `0` open, `1` close, `2` ping, `3` pong, `4` message, `5` upgrade, `6` noop.
//! Socket.IO (inside an Engine.IO message): `0` CONNECT, `1` DISCONNECT, `2` EVENT, `3` ACK,
//! `4` CONNECT_ERROR, `5` BINARY_EVENT, `6` BINARY_ACK; then an optional namespace ending in
//! `,`, an optional ack id (digits), and JSON data.
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("empty packet")]
    Empty,
    #[error("unknown Engine.IO packet type {0:?}")]
    UnknownEngineType(char),
    #[error("unknown Socket.IO packet type {0:?}")]
    UnknownSocketType(char),
    #[error("invalid packet data: {0}")]
    InvalidData(String),
}

/// An Engine.IO packet received from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnginePacket<'a> {
    Close,
    Ping(&'a str),
    Pong(&'a str),
    Message(&'a str),
    Upgrade,
    Noop,
}

pub fn decode_engine(text: &str) -> Result<EnginePacket<'_>, ProtocolError> {
    let mut chars = text.chars();
    let kind = chars.next().ok_or(ProtocolError::Empty)?;
    let rest = &text[kind.len_utf8()..];
    match kind {
        '1' => Ok(EnginePacket::Close),
        '2' => Ok(EnginePacket::Ping(rest)),
        '3' => Ok(EnginePacket::Pong(rest)),
        '4' => Ok(EnginePacket::Message(rest)),
        '5' => Ok(EnginePacket::Upgrade),
        '6' => Ok(EnginePacket::Noop),
        other => Err(ProtocolError::UnknownEngineType(other)),
    }
}

/// The handshake the server sends first on a new WebSocket (Engine.IO `open`).
pub fn encode_open(
    sid: &str,
    ping_interval_ms: u64,
    ping_timeout_ms: u64,
    max_payload: usize,
) -> String {
    let data = json!({
        "sid": sid,
        "upgrades": [],
        "pingInterval": ping_interval_ms,
        "pingTimeout": ping_timeout_ms,
        "maxPayload": max_payload,
    });
    format!("0{data}")
}

pub const ENGINE_PING: &str = "2";

/// A Socket.IO packet received from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum SocketPacket {
    Connect {
        namespace: String,
        auth: Option<Value>,
    },
    Disconnect {
        namespace: String,
    },
    Event {
        namespace: String,
        ack_id: Option<u64>,
        name: String,
        payload: Vec<Value>,
    },
    Ack {
        namespace: String,
        ack_id: u64,
    },
    /// Binary events and acks, which this server refuses.
    Binary,
}

pub fn decode_socket(text: &str) -> Result<SocketPacket, ProtocolError> {
    let mut chars = text.chars();
    let kind = chars.next().ok_or(ProtocolError::Empty)?;
    let mut rest = &text[1..];
    if matches!(kind, '5' | '6') {
        return Ok(SocketPacket::Binary);
    }
    let namespace = if rest.starts_with('/') {
        match rest.find(',') {
            Some(end) => {
                let ns = &rest[..end];
                rest = &rest[end + 1..];
                ns.to_owned()
            }
            None => {
                let ns = rest.to_owned();
                rest = "";
                ns
            }
        }
    } else {
        "/".to_owned()
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let ack_id = if digits > 0 {
        let id = rest[..digits]
            .parse::<u64>()
            .map_err(|e| ProtocolError::InvalidData(format!("ack id: {e}")))?;
        rest = &rest[digits..];
        Some(id)
    } else {
        None
    };
    let data: Option<Value> = if rest.is_empty() {
        None
    } else {
        Some(serde_json::from_str(rest).map_err(|e| ProtocolError::InvalidData(e.to_string()))?)
    };
    match kind {
        '0' => Ok(SocketPacket::Connect {
            namespace,
            auth: data,
        }),
        '1' => Ok(SocketPacket::Disconnect { namespace }),
        '2' => {
            let Some(Value::Array(mut items)) = data else {
                return Err(ProtocolError::InvalidData(
                    "an event must be a JSON array".into(),
                ));
            };
            if items.is_empty() {
                return Err(ProtocolError::InvalidData("an event needs a name".into()));
            }
            let Value::String(name) = items.remove(0) else {
                return Err(ProtocolError::InvalidData(
                    "an event name must be a string".into(),
                ));
            };
            Ok(SocketPacket::Event {
                namespace,
                ack_id,
                name,
                payload: items,
            })
        }
        '3' => Ok(SocketPacket::Ack {
            namespace,
            ack_id: ack_id
                .ok_or_else(|| ProtocolError::InvalidData("an ack needs an id".into()))?,
        }),
        other => Err(ProtocolError::UnknownSocketType(other)),
    }
}

fn namespace_prefix(namespace: &str) -> String {
    if namespace == "/" {
        String::new()
    } else {
        format!("{namespace},")
    }
}

/// `40{"sid":…}`: the namespace connection is accepted.
pub fn encode_connect(socket_sid: &str) -> String {
    format!("40{}", json!({ "sid": socket_sid }))
}

/// `44/ns,{"message":…}`: the namespace connection is refused.
pub fn encode_connect_error(namespace: &str, message: &str) -> String {
    format!(
        "44{}{}",
        namespace_prefix(namespace),
        json!({ "message": message })
    )
}

/// `41`: the server ends the namespace connection.
pub fn encode_disconnect() -> String {
    "41".to_owned()
}

/// `42["event",payload]`.
pub fn encode_event(name: &str, payload: &Value) -> String {
    format!("42{}", json!([name, payload]))
}

/// `43<id>[...]`: the answer to an event the client sent with an ack id.
pub fn encode_ack(ack_id: u64, args: &[Value]) -> String {
    format!("43{ack_id}{}", Value::Array(args.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Packets below are the examples of the Engine.IO v4 and Socket.IO v5 protocol
    // specifications (socketio/engine.io-protocol, socketio/socket.io-protocol).

    #[test]
    fn engine_packets_from_the_specification() {
        assert_eq!(decode_engine("2").unwrap(), EnginePacket::Ping(""));
        assert_eq!(decode_engine("3").unwrap(), EnginePacket::Pong(""));
        assert_eq!(
            decode_engine("2probe").unwrap(),
            EnginePacket::Ping("probe")
        );
        assert_eq!(
            decode_engine("4hello").unwrap(),
            EnginePacket::Message("hello")
        );
        assert_eq!(decode_engine("1").unwrap(), EnginePacket::Close);
        assert_eq!(decode_engine("6").unwrap(), EnginePacket::Noop);
        assert_eq!(decode_engine("").unwrap_err(), ProtocolError::Empty);
        assert_eq!(
            decode_engine("9").unwrap_err(),
            ProtocolError::UnknownEngineType('9')
        );
    }

    #[test]
    fn the_open_packet_has_the_handshake_fields() {
        let open = encode_open("lv_VI97HAXpY6yYWAAAC", 25000, 20000, 1_000_000);
        assert!(open.starts_with('0'));
        let data: Value = serde_json::from_str(&open[1..]).unwrap();
        assert_eq!(
            data,
            json!({"sid": "lv_VI97HAXpY6yYWAAAC", "upgrades": [], "pingInterval": 25000,
                   "pingTimeout": 20000, "maxPayload": 1000000})
        );
    }

    #[test]
    fn socket_packets_from_the_specification() {
        assert_eq!(
            decode_socket("0").unwrap(),
            SocketPacket::Connect {
                namespace: "/".into(),
                auth: None
            }
        );
        assert_eq!(
            decode_socket("0/admin,{\"token\":\"123\"}").unwrap(),
            SocketPacket::Connect {
                namespace: "/admin".into(),
                auth: Some(json!({"token": "123"}))
            }
        );
        assert_eq!(
            decode_socket("1").unwrap(),
            SocketPacket::Disconnect {
                namespace: "/".into()
            }
        );
        assert_eq!(
            decode_socket("1/admin,").unwrap(),
            SocketPacket::Disconnect {
                namespace: "/admin".into()
            }
        );
        assert_eq!(
            decode_socket("2[\"foo\"]").unwrap(),
            SocketPacket::Event {
                namespace: "/".into(),
                ack_id: None,
                name: "foo".into(),
                payload: vec![]
            }
        );
        assert_eq!(
            decode_socket("2/admin,456[\"project:delete\",123]").unwrap(),
            SocketPacket::Event {
                namespace: "/admin".into(),
                ack_id: Some(456),
                name: "project:delete".into(),
                payload: vec![json!(123)],
            }
        );
        assert_eq!(
            decode_socket("3/admin,456[]").unwrap(),
            SocketPacket::Ack {
                namespace: "/admin".into(),
                ack_id: 456
            }
        );
        assert_eq!(
            decode_socket("51-[\"baz\",{\"_placeholder\":true,\"num\":0}]").unwrap(),
            SocketPacket::Binary
        );
        assert!(decode_socket("2{\"not\":\"an array\"}").is_err());
        assert!(decode_socket("2[42]").is_err());
        assert!(decode_socket("2[\"x\"").is_err());
        assert!(decode_socket("9").is_err());
    }

    #[test]
    fn server_packets_encode_like_the_specification() {
        assert_eq!(
            encode_connect("oSO0OpakMV_3jnilAAAA"),
            "40{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}"
        );
        assert_eq!(
            encode_connect_error("/admin", "Not authorized"),
            "44/admin,{\"message\":\"Not authorized\"}"
        );
        assert_eq!(encode_event("hello", &json!(1)), "42[\"hello\",1]");
        assert_eq!(encode_ack(12, &[json!("ok")]), "4312[\"ok\"]");
        assert_eq!(encode_disconnect(), "41");
    }
}
