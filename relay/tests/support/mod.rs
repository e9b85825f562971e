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

/// A TCP connection to `to` from the loopback address `from` (127.0.0.2,
/// 127.0.0.3, ...: each plays another machine).
pub async fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from.parse().unwrap(), 0))?;
    socket.connect(to).await
}

/// What a page opening a lab from `from` gets: the hello, or the reason its
/// lab was refused (the close frame's), with the error event before it.
pub async fn try_open_lab_from(
    relay: &RunningRelay,
    from: &str,
) -> Result<(Socket, Hello), String> {
    let stream = connect_from(from, relay.addr).await.expect("connect");
    let mut request = format!("ws://{}/ws", relay.addr)
        .into_client_request()
        .unwrap();
    let origin = HeaderValue::from_str(&format!("http://{}", relay.addr)).unwrap();
    request.headers_mut().insert("Origin", origin);
    let (mut socket, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
        .await
        .expect("handshake");
    loop {
        let frame = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("the relay went quiet");
        match frame {
            Some(Ok(Message::Text(text))) => match serde_json::from_str(&text).unwrap() {
                ServerMessage::Hello(hello) => return Ok((socket, hello)),
                ServerMessage::Events { .. } => {}
            },
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(
                    u16::from(frame.code),
                    4000,
                    "a refused lab closes with 4000"
                );
                return Err(frame.reason.to_string());
            }
            other => panic!("neither hello nor a refusal: {other:?}"),
        }
    }
}

/// Opens a lab from `from`, which must be let in.
pub async fn open_lab_from(relay: &RunningRelay, from: &str) -> (Socket, Hello) {
    try_open_lab_from(relay, from)
        .await
        .unwrap_or_else(|refusal| panic!("lab refused: {refusal}"))
}

/// Reads events until every one of `count` clients has finished; returns
/// all events seen.
pub async fn until_clients_finished(socket: &mut Socket, count: usize) -> Vec<Event> {
    events_until(socket, |seen| {
        self::count(seen, |kind| {
            matches!(kind, EventKind::ClientFinished { .. })
        }) >= count
    })
    .await
}

/// The clients that finished without an error and with `bytes` echoed.
pub fn clients_echoed_in_full(events: &[Event], bytes: u64) -> usize {
    count(
        events,
        |kind| matches!(kind, EventKind::ClientFinished { echoed, error: None, .. } if *echoed == bytes),
    )
}

/// Whether a connection was closed by the other side without a byte of
/// echo (EOF or reset) after `sent` was written.
pub async fn closed_without_echo(stream: &mut TcpStream, sent: &[u8]) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.write_all(sent).await;
    let mut byte = [0; 1];
    match tokio::time::timeout(PATIENCE, stream.read(&mut byte)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => panic!("the connection was neither served nor closed"),
    }
}
