//! What the relay's integration tests share: a relay served in-process on an
//! ephemeral loopback port, a real WebSocket client for its labs, and ways to
//! wait for events without sleeping.
#![allow(dead_code)] // each test file uses its own part

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use loopscope_relay::{Config, serve};
use protocol::{Command, Event, EventKind, Hello, ServerMessage};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest a test waits for any one thing before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A relay served by this test process.
pub struct RunningRelay {
    pub addr: SocketAddr,
    pub stop: CancellationToken,
    pub served: JoinHandle<anyhow::Result<()>>,
}

pub async fn start_relay(config: Config) -> RunningRelay {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let served = tokio::spawn(serve(listener, config, stop.clone()));
    RunningRelay { addr, stop, served }
}

pub async fn open_lab(relay: &RunningRelay) -> (Socket, Hello) {
    let mut request = format!("ws://{}/ws", relay.addr)
        .into_client_request()
        .unwrap();
    let origin = HeaderValue::from_str(&format!("http://{}", relay.addr)).unwrap();
    request.headers_mut().insert("Origin", origin);
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake");
    match next_message(&mut socket).await {
        ServerMessage::Hello(hello) => (socket, hello),
        other => panic!("the first message must be hello, got {other:?}"),
    }
}

pub async fn next_message(socket: &mut Socket) -> ServerMessage {
    loop {
        let frame = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("the relay went quiet")
            .expect("the relay closed the socket")
            .expect("websocket error");
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).expect("a protocol message");
        }
    }
}

/// Reads events until `done` says the ones seen so far are enough.
pub async fn events_until(
    socket: &mut Socket,
    mut done: impl FnMut(&[Event]) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    while !done(&seen) {
        match next_message(socket).await {
            ServerMessage::Events { events } => seen.extend(events),
            ServerMessage::Hello(_) => panic!("a second hello"),
        }
    }
    seen
}

pub fn count(events: &[Event], matches: impl Fn(&EventKind) -> bool) -> usize {
    events.iter().filter(|event| matches(&event.kind)).count()
}

pub async fn send_command(socket: &mut Socket, command: &Command) {
    let text = serde_json::to_string(command).unwrap();
    socket.send(Message::text(text)).await.unwrap();
}

pub async fn next_error(socket: &mut Socket) -> String {
    let events = events_until(socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::Error { .. })) > 0
    })
    .await;
    events
        .into_iter()
        .find_map(|event| match event.kind {
            EventKind::Error { message } => Some(message),
            _ => None,
        })
        .unwrap()
}

/// Events that arrive within `quiet` (when nothing more is expected).
pub async fn events_within(socket: &mut Socket, quiet: Duration) -> Vec<Event> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + quiet;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, socket.next()).await {
        if let Message::Text(text) = frame
            && let ServerMessage::Events { events } = serde_json::from_str(&text).unwrap()
        {
            seen.extend(events);
        }
    }
    seen
}
