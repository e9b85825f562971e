//! What the relay's integration tests share: a relay served in-process on an
//! ephemeral loopback port, a real WebSocket client for its labs, and ways to
//! wait for events without sleeping.
#![allow(dead_code)] // each test file uses its own part

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use loopscope_relay::{Config, serve};
use protocol::{Command, Event, EventKind, HandlerStyle, Hello, ServerMessage, ServerModel};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest a test waits for any one thing before it fails: generous, for a
/// busy machine, and free when the thing comes.
pub const PATIENCE: Duration = Duration::from_secs(60);

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
    let (mut socket, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
        .await
        .expect("the relay answered the handshake")
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
    // A lab that never says what a test waits for fails the test rather
    // than hang it (it may go on saying other things, such as its CPU).
    let deadline = tokio::time::Instant::now() + EVENT_PATIENCE;
    while !done(&seen) {
        let message = tokio::time::timeout_at(deadline, next_message(socket))
            .await
            .unwrap_or_else(|_| {
                let kinds: Vec<String> = seen.iter().rev().take(30).map(|event| format!("{:?}", event.kind)).collect();
                panic!("no awaited event within {EVENT_PATIENCE:?}; the last ones, newest first: {kinds:#?}")
            });
        match message {
            ServerMessage::Events { events } => seen.extend(events),
            ServerMessage::Hello(_) => panic!("a second hello"),
        }
    }
    seen
}

/// How long a test waits for what it awaits from a lab.
const EVENT_PATIENCE: std::time::Duration = PATIENCE;

/// Opens a lab on `relay` whose server runs `model` with handlers that do
/// `errors` with a client's error: switched to them, if the lab did not
/// start so, once the new server says it listens on the lab's port.
pub async fn open_lab_running(
    relay: &RunningRelay,
    model: ServerModel,
    errors: HandlerStyle,
) -> (Socket, Hello) {
    let (mut socket, hello) = open_lab(relay).await;
    if hello.model != model || errors != HandlerStyle::default() {
        send_command(&mut socket, &Command::SetModel { model, errors }).await;
        // The server restarts on the same port and says so (the lab's
        // first server may say it listens too, with its own model).
        let listening = EventKind::Listening {
            addr: hello.echo_addr.clone(),
            model,
            errors,
        };
        events_until(&mut socket, |seen| {
            seen.iter().any(|event| event.kind == listening)
        })
        .await;
    }
    (socket, hello)
}

/// Whether the events hold the server's stop and the ends of `clients`
/// clients: a shutdown is over and its story whole.
pub fn stopped_and_clients_finished(seen: &[Event], clients: usize) -> bool {
    count(seen, |kind| {
        matches!(
            kind,
            EventKind::Shutdown {
                phase: protocol::ShutdownPhase::Stopped
            }
        )
    }) == 1
        && count(seen, |kind| {
            matches!(kind, EventKind::ClientFinished { .. })
        }) == clients
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

/// Reads events until one stamped after `at` (µs on the lab's clock) has
/// come: by then every event stamped earlier has come too, since a lab's
/// events come in the order of their stamps (and its CPU report, every half
/// second, keeps its clock moving). For an absence: what did not happen by
/// then on the lab's own clock did not happen, however busy the machine.
pub async fn events_until_the_lab_clock_passes(
    socket: &mut Socket,
    at: protocol::Micros,
) -> Vec<Event> {
    events_until(socket, |seen| {
        seen.last().is_some_and(|event| event.at > at)
    })
    .await
}

/// Writes `message` on `stream` and reads its echo: panics unless exactly
/// those bytes come back within [`PATIENCE`].
pub async fn assert_echoes(stream: &mut TcpStream, message: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(message).await.expect("write");
    let mut echo = vec![0; message.len()];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut echo))
        .await
        .expect("no echo came")
        .expect("the connection ended before its echo");
    assert_eq!(
        String::from_utf8_lossy(&echo),
        String::from_utf8_lossy(message),
        "the echo is the bytes sent"
    );
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
    let (mut socket, _) = tokio::time::timeout(
        PATIENCE,
        tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)),
    )
    .await
    .expect("the relay answered the handshake")
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

/// Reads until the relay closes the socket; the close frame's reason
/// (code 4000), after the same words came as an error event.
pub async fn close_reason(socket: &mut Socket) -> String {
    let mut logged = Vec::new();
    loop {
        let frame = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("the relay went quiet")
            .expect("closed without a close frame")
            .unwrap();
        match frame {
            Message::Text(text) => {
                if let ServerMessage::Events { events } = serde_json::from_str(&text).unwrap() {
                    logged.extend(events.into_iter().filter_map(|event| match event.kind {
                        EventKind::Error { message } => Some(message),
                        _ => None,
                    }));
                }
            }
            Message::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 4000);
                assert!(
                    logged.contains(&frame.reason.to_string()),
                    "the log says it too"
                );
                return frame.reason.to_string();
            }
            _ => {}
        }
    }
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one HTTP/1.1 request to `to` from loopback address `from` and
/// reads the whole response (the connection closes after it).
pub async fn http(
    from: &str,
    to: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = connect_from(from, to).await.expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += "\r\n";
    request += body;
    stream.write_all(request.as_bytes()).await.unwrap();
    // Read until the relay closes; a reset after the response (the relay
    // closing on a body it did not read) keeps what came before it.
    let mut raw = Vec::new();
    let read = async {
        let mut chunk = [0_u8; 16 * 1024];
        while let Ok(count) = stream.read(&mut chunk).await {
            if count == 0 {
                break;
            }
            raw.extend_from_slice(&chunk[..count]);
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("the relay went quiet");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(name, value)| name.eq_ignore_ascii_case("transfer-encoding") && value == "chunked");
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut chunked: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Some(end) = chunked.windows(2).position(|w| w == b"\r\n") else {
            return body;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&chunked[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunked[end + 2..end + 2 + size]);
        chunked = &chunked[end + 2 + size + 2..];
    }
}

/// A server-sent event stream, read a `data:` line at a time.
pub struct EventLines {
    lines: tokio::io::Lines<tokio::io::BufReader<TcpStream>>,
}

impl EventLines {
    /// Opens `path` on `to` from `from` as an event stream; panics unless
    /// the relay answers 200.
    pub async fn open(from: &str, to: SocketAddr, path: &str) -> EventLines {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let mut stream = connect_from(from, to).await.expect("connect");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {to}\r\nAccept: text/event-stream\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut lines = tokio::io::BufReader::new(stream).lines();
        let status = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("the relay answered")
            .unwrap()
            .unwrap_or_default();
        assert!(status.contains(" 200 "), "{path}: {status}");
        EventLines { lines }
    }

    /// The next event's data, parsed as `T` (comments, chunk sizes and blank
    /// lines skipped).
    pub async fn next<T: serde::de::DeserializeOwned>(&mut self) -> T {
        let data = async {
            loop {
                let line = self
                    .lines
                    .next_line()
                    .await
                    .unwrap()
                    .expect("the stream ended");
                if let Some(data) = line.strip_prefix("data:") {
                    return data.trim().to_owned();
                }
            }
        };
        let data = tokio::time::timeout(PATIENCE, data)
            .await
            .expect("no event came");
        serde_json::from_str(&data).unwrap()
    }
}
