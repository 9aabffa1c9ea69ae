//! The Engine.IO heartbeat on a raw WebSocket (awc): a client that answers pings stays;
//! one that stops answering is closed by the server.
use actix_web::web::Bytes;
use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};

use crate::helpers::spawn_app_with;

async fn connect(address: &str) -> actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec> {
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        address.replace("http", "ws")
    );
    let (_, socket) = awc::Client::new()
        .ws(url)
        .connect()
        .await
        .expect("WebSocket opens");
    socket
}

fn text(frame: Frame) -> Option<String> {
    match frame {
        Frame::Text(bytes) => Some(String::from_utf8(bytes.to_vec()).unwrap()),
        _ => None,
    }
}

#[actix_web::test]
async fn pings_answered_keep_the_connection_and_silence_closes_it() {
    let app = spawn_app_with(|config| {
        config.realtime.ping_interval_ms = 50;
        config.realtime.ping_timeout_ms = 150;
    })
    .await;

    let mut alive = connect(&app.address).await;
    let open = text(alive.next().await.unwrap().unwrap()).unwrap();
    assert!(open.starts_with("0{"), "{open}");
    let handshake: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    assert_eq!(handshake["pingInterval"], 50);
    assert_eq!(handshake["pingTimeout"], 150);
    alive.send(Message::Text("40".into())).await.unwrap();
    assert!(
        text(alive.next().await.unwrap().unwrap())
            .unwrap()
            .starts_with("40{\"sid\"")
    );
    // Answer ten pings: the server keeps the connection through all of them.
    for _ in 0..10 {
        let ping = text(alive.next().await.unwrap().unwrap()).unwrap();
        assert_eq!(ping, "2");
        alive.send(Message::Text("3".into())).await.unwrap();
    }

    let mut silent = connect(&app.address).await;
    let _open = silent.next().await.unwrap().unwrap();
    let mut pings = 0;
    let close = loop {
        match silent.next().await {
            Some(Ok(Frame::Text(bytes))) if bytes == Bytes::from_static(b"2") => pings += 1,
            Some(Ok(Frame::Close(reason))) => break reason,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(pings, 1, "one unanswered ping is enough");
    assert_eq!(
        close.and_then(|r| r.description).as_deref(),
        Some("ping timeout")
    );
    drop(alive);
    app.stop().await;
}
