//! What one client may hold of the box, tried as a stranger on the venue Wi-Fi would: bursts
//! of guesses, bodies that never arrive, crowds of connections from one address, sockets
//! without end. Each source is a loopback address of its own (127.0.0.x), so per-address
//! limits see distinct clients.
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, header};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::auth::{ADMIN, call, locked_app, sign_in};
use crate::helpers::TestApp;

/// A TCP connection to the app from `source`.
async fn connect_from(app: &TestApp, source: [u8; 4]) -> TcpStream {
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::from((source, 0)))
        .unwrap();
    socket
        .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap()
}

/// Everything the server sends until it closes the connection or `limit` passes.
async fn read_answer(stream: &mut TcpStream, limit: Duration) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Wrong passphrases from `source` (a loopback address of its own), all at once; the
/// statuses in the order they came back.
async fn guess_burst(app: &TestApp, source: [u8; 4], guesses: usize) -> Vec<StatusCode> {
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(source))
        .build()
        .unwrap();
    let url = format!("{}/api/auth/login", app.address);
    let answers = futures_util::future::join_all((0..guesses).map(|n| {
        client
            .post(&url)
            .json(&json!({"passphrase": format!("guess {n}")}))
            .send()
    }))
    .await;
    answers.into_iter().map(|r| r.unwrap().status()).collect()
}

/// The attack that broke the first limiter: a burst of concurrent guesses got 58–95 argon2
/// checks through a limit of 10, because attempts were counted after hashing and per worker.
/// Now each guess is counted before its hash, by the box's one limiter; a burst beyond the
/// hashing queue is told "busy" without being hashed; and many addresses together share one
/// box-wide budget.
#[actix_web::test]
async fn a_burst_of_guesses_gets_no_more_checks_than_the_limits() {
    let app = locked_app(|config| {
        config.auth.login_attempts = 10;
        config.auth.login_attempts_total = 30;
        config.server.workers = 4;
    })
    .await;
    let statuses = guess_burst(&app, [127, 0, 0, 2], 150).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(
        checked <= 10,
        "{checked} of 150 concurrent guesses were checked"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );

    // Nine more addresses, ten guesses each, one after another: 30 checks in all, then the
    // box-wide budget refuses every address, a fresh one too.
    let mut checked_in_all = checked;
    for last in 3..12 {
        for _ in 0..10 {
            if guess_burst(&app, [127, 0, 0, last], 1).await[0] == StatusCode::UNAUTHORIZED {
                checked_in_all += 1;
            }
        }
    }
    assert_eq!(checked_in_all, 30);
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/auth/login",
        None,
        Some(&json!({"passphrase": ADMIN})),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "TOO_MANY_ATTEMPTS");
    app.stop().await;
}

/// The attack that held a box for over five minutes: requests that announce a body and send
/// one byte of it. The body's deadline answers 408 and lets the connection go.
#[actix_web::test]
async fn a_body_that_never_arrives_gets_408_at_its_deadline() {
    let app = locked_app(|config| config.server.body_timeout_secs = 1).await;
    let mut stream = connect_from(&app, [127, 0, 0, 2]).await;
    stream
        .write_all(
            b"POST /api/auth/login HTTP/1.1\r\nHost: box\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut stream, Duration::from_secs(20)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("BODY_TIMEOUT"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // The sign-in form is read the same way.
    let mut stream = connect_from(&app, [127, 0, 0, 2]).await;
    stream
        .write_all(b"POST /login HTTP/1.1\r\nHost: box\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\npass")
        .await
        .unwrap();
    let answer = read_answer(&mut stream, Duration::from_secs(20)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    app.stop().await;
}

/// Slowloris: headers sent a little at a time, never finished. The header timeout lets the
/// connection go instead of holding it (and its descriptor) for as long as the client likes.
#[actix_web::test]
async fn headers_that_never_finish_are_let_go_at_the_header_timeout() {
    let app = locked_app(|config| config.server.header_timeout_secs = 1).await;
    let mut stream = connect_from(&app, [127, 0, 0, 4]).await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: box\r\nX-Slow: a")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut stream, Duration::from_secs(20)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "held for {:?}",
        started.elapsed()
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    app.stop().await;
}

/// A crowd of connections from one address: past the cap for strangers, requests without
/// credentials are refused at once and disconnected, while the crew on that address (and
/// everyone elsewhere) is served; past the hard cap, connections are shut as they open.
#[actix_web::test]
async fn a_crowd_from_one_address_is_let_go_and_the_crew_is_served() {
    let app = locked_app(|config| {
        config.server.unauthenticated_connections_per_address = 4;
        config.server.connections_per_address = 12;
    })
    .await;
    let admin = sign_in(&app, ADMIN).await;
    let stranger = [127, 0, 0, 3];
    let mut idle = Vec::new();
    for _ in 0..6 {
        idle.push(connect_from(&app, stranger).await);
    }
    // Accepted connections reach their worker (and are counted) a moment after connect.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut probe = connect_from(&app, stranger).await;
    probe
        .write_all(b"GET /health HTTP/1.1\r\nHost: box\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut probe, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("TOO_MANY_CONNECTIONS"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );

    let mut crew = connect_from(&app, stranger).await;
    crew.write_all(
        format!("GET /api/productions HTTP/1.1\r\nHost: box\r\nCookie: {admin}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let answer = read_answer(&mut crew, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A made-up cookie is no credential.
    let mut forged = connect_from(&app, stranger).await;
    forged
        .write_all(b"GET /health HTTP/1.1\r\nHost: box\r\nCookie: venuebox_session=forged\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut forged, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    let (status, _) = call(&app, Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK, "another address is not affected");

    // The hard cap: this address now holds its 12 (the answered ones were closed); the next
    // connection is shut unread.
    drop((probe, crew, forged));
    tokio::time::sleep(Duration::from_millis(200)).await;
    while idle.len() < 12 {
        idle.push(connect_from(&app, stranger).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut over = connect_from(&app, stranger).await;
    let _ = over
        .write_all(
            format!("GET /api/productions HTTP/1.1\r\nHost: box\r\nCookie: {admin}\r\n\r\n")
                .as_bytes(),
        )
        .await;
    let answer = read_answer(&mut over, Duration::from_secs(10)).await;
    assert!(answer.is_empty(), "shut before it was read: {answer}");
    // Letting go gives the address its connections back.
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = connect_from(&app, stranger).await;
    again
        .write_all(b"GET /health HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut again, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    app.stop().await;
}

/// One credential cannot open realtime sockets without end; a closed socket gives its slot
/// back; another credential has slots of its own.
#[actix_web::test]
async fn sockets_per_credential_are_capped_and_given_back() {
    let app = locked_app(|config| config.server.sockets_per_credential = 2).await;
    let admin = sign_in(&app, ADMIN).await;
    let url = format!("{}/socket.io/?EIO=4&transport=websocket", app.address);
    let open = |cookie: String| {
        let url = url.clone();
        async move {
            awc::Client::new()
                .ws(url)
                .header(header::COOKIE.as_str(), cookie)
                .connect()
                .await
        }
    };
    let first = open(admin.clone()).await.expect("first socket");
    let _second = open(admin.clone()).await.expect("second socket");
    match open(admin.clone()).await {
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            assert_eq!(status.as_u16(), 429)
        }
        Err(other) => panic!("unexpected refusal: {other}"),
        Ok(_) => panic!("a third socket for one credential"),
    }
    let other = sign_in(&app, ADMIN).await;
    let _elsewhere = open(other)
        .await
        .expect("another session has its own slots");
    drop(first);
    // The server notices the closed socket and gives the slot back.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match open(admin.clone()).await {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(err) => panic!("the slot never came back: {err}"),
        }
    }
    app.stop().await;
}
