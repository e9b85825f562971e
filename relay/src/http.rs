//! The HTTP face of the relay: the app's files at `/`, labs at `/ws`, served
//! by an accept loop that a hostile network cannot exhaust.
//!
//! * At most [`Limits::max_http_connections`] connections at once, and
//!   [`Limits::max_http_connections_per_address`] from one address; more
//!   are closed as they are accepted.
//! * A request whose headers take longer than
//!   [`Limits::header_timeout_s`] loses its connection (hyper's header
//!   timeout, which also bounds an idle keep-alive connection): a slowloris
//!   that sends a header byte every ten seconds is closed, and the page
//!   still loads meanwhile.
//! * A failed `accept()` (out of descriptors) pauses the loop instead of
//!   spinning; repeated log lines are rate-limited.
//!
//! The upgrade to `/ws` checks the [`guard`](crate::guard), the room's lab
//! caps (a refusal is a WebSocket closed at once with the reason, which
//! the page shows), then hands the upgraded stream, metered by
//! [`MeteredIo`], to a [`session`].
//!
//! The app is embedded in the release binary (a workshop host copies one
//! file); debug builds read it from `dist/` at run time, so a rebuilt app is
//! served without rebuilding the relay.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::SinkExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use protocol::{Event, EventKind, Limits, ServerMessage};
use rust_embed::Embed;
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::Config;
use crate::guard::DoorPolicy;
use crate::lab::Lab;
use crate::room::{PerAddress, Room};
use crate::session;
use crate::throttle::Tally;
use crate::ws_io::MeteredIo;

/// The built app (`trunk build` writes it to `dist/`).
#[derive(Embed)]
#[folder = "../dist"]
#[allow_missing = true]
struct AppFiles;

/// How long the accept loop pauses after `accept()` fails.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Refusals at the HTTP door, logged at most once a second.
static REFUSED_LOG: Tally = Tally::new(Duration::from_secs(1));
/// Accept failures, logged at most once a second.
static ACCEPT_LOG: Tally = Tally::new(Duration::from_secs(1));
/// Labs opened and closed, logged at most once a second each.
static OPENED_LOG: Tally = Tally::new(Duration::from_secs(1));

/// What every request handler shares.
#[derive(Clone)]
pub struct Relay {
    config: Arc<Config>,
    door: Arc<DoorPolicy>,
    room: Room,
    next_lab: Arc<AtomicU64>,
    stop: CancellationToken,
    sessions: TaskTracker,
}

impl Relay {
    /// The shared state of a relay bound to `bound`.
    pub fn new(
        config: Config,
        bound: SocketAddr,
        stop: CancellationToken,
        sessions: TaskTracker,
    ) -> Self {
        let door = DoorPolicy::new(bound, &config.allowed_hosts, &config.allowed_origins);
        Relay {
            room: Room::new(config.limits.clone()),
            door: Arc::new(door),
            config: Arc::new(config),
            next_lab: Arc::new(AtomicU64::new(1)),
            stop,
            sessions,
        }
    }

    /// The routes.
    pub fn router(self) -> Router {
        Router::new()
            .route("/ws", get(open_lab))
            .fallback(get(app_file))
            .with_state(self)
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(TraceLayer::new_for_http())
    }
}

/// Serves `router` on `listener` within the HTTP limits of `limits` until
/// `stop` is cancelled; then lets requests in flight finish for `grace`.
pub async fn serve_connections(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    stop: CancellationToken,
    grace: Duration,
) {
    let connections = crate::room::Budget::new(limits.max_http_connections);
    let per_address = PerAddress::new(limits.max_http_connections_per_address);
    let header_timeout = Duration::from_secs(limits.header_timeout_s.max(1).into());
    let open = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                if let Some(report) = ACCEPT_LOG.count(Instant::now()) {
                    tracing::warn!(%error, since_last = report.since_last, "accept failed");
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let slots = connections
            .take(1)
            .map_err(|_| "the relay's connection cap")
            .and_then(|total| {
                per_address
                    .take(peer.ip())
                    .map(|one| (total, one))
                    .map_err(|_| "the cap of connections per address")
            });
        let slots = match slots {
            Ok(slots) => slots,
            Err(cap) => {
                if let Some(report) = REFUSED_LOG.count(Instant::now()) {
                    tracing::warn!(%peer, since_last = report.since_last, "connection closed at {cap}");
                }
                continue;
            }
        };
        let service =
            router
                .clone()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let stop = stop.clone();
        open.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = stop.cancelled() => {
                    // Finishes the request in flight, then closes.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(%error, %peer, "http connection ended");
            }
            drop(slots);
        });
    }
    drop(listener);
    open.close();
    if tokio::time::timeout(grace, open.wait()).await.is_err() {
        tracing::debug!("some HTTP connections did not finish within {grace:?}");
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The WebSocket settings of a lab: messages and frames capped at the
/// command limit (a larger one closes the socket with 1009).
fn websocket_config(limits: &Limits) -> WebSocketConfig {
    let max = limits.max_command_bytes as usize;
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .max_write_buffer_size(4 << 20)
}

/// `GET /ws`: checks the door, opens a lab, and hands the socket to a session.
async fn open_lab(
    State(relay): State<Relay>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    let host = header_text(headers, header::HOST);
    let origin = header_text(headers, header::ORIGIN);
    if let Err(refusal) = relay.door.check(host, origin) {
        if let Some(report) = REFUSED_LOG.count(Instant::now()) {
            tracing::warn!(?host, ?origin, %refusal, since_last = report.since_last, "websocket refused");
        }
        return (StatusCode::FORBIDDEN, refusal.to_string()).into_response();
    }
    let Some(accept_key) = websocket_key(headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "/ws speaks WebSocket (version 13) only",
        )
            .into_response();
    };
    let Some(upgrade) = request
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
    else {
        return (
            StatusCode::BAD_REQUEST,
            "this connection cannot be upgraded",
        )
            .into_response();
    };
    let limits = relay.room.limits.clone();
    let config = websocket_config(&limits);
    // Taken in this order so that a refusal takes nothing.
    let slots = relay
        .room
        .labs_per_address
        .take(peer.ip())
        .map_err(|held| {
            format!(
                "your address ({}) has {held} labs open, the most one address may; close a tab to open another",
                peer.ip()
            )
        })
        .and_then(|one| {
            relay.room.labs.take(1).map(|all| (one, all)).map_err(|_| {
                format!(
                    "this relay runs at most {} labs at once and all are taken; try again when someone leaves",
                    limits.max_labs
                )
            })
        });
    let id = relay.next_lab.fetch_add(1, Ordering::Relaxed);
    let opened = match slots {
        Ok(slots) => Lab::open(
            id,
            relay.config.echo_ip,
            peer.ip(),
            &relay.room,
            relay.config.test_commands,
        )
        .await
        .map(|opened| (opened, slots))
        .map_err(|error| error.to_string()),
        Err(refusal) => Err(refusal),
    };
    let stop = relay.stop.clone();
    let grace = relay.config.grace;
    relay.sessions.spawn(async move {
        let upgraded = match upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "websocket upgrade failed");
                return;
            }
        };
        let rate = limits.max_command_bytes;
        let io = MeteredIo::new(TokioIo::new(upgraded), rate, rate.saturating_mul(2), rate);
        let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        match opened {
            Ok(((lab, events), slots)) => {
                if OPENED_LOG.count(Instant::now()).is_some() {
                    tracing::info!(lab = id, echo = %lab.echo_addr(), %peer, "lab opened");
                }
                session::run(socket, lab, events, stop, grace).await;
                drop(slots);
            }
            Err(refusal) => refuse_lab(socket, refusal).await,
        }
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, "upgrade".to_owned()),
            (header::UPGRADE, "websocket".to_owned()),
            (header::SEC_WEBSOCKET_ACCEPT, accept_key),
        ],
    )
        .into_response()
}

/// The `Sec-WebSocket-Accept` answer to a well-formed upgrade request.
fn websocket_key(headers: &HeaderMap) -> Option<String> {
    let has_token = |name, token: &str| {
        header_text(headers, name).is_some_and(|value| {
            value
                .split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    };
    let upgrade =
        has_token(header::CONNECTION, "upgrade") && has_token(header::UPGRADE, "websocket");
    let version = header_text(headers, header::SEC_WEBSOCKET_VERSION) == Some("13");
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?;
    (upgrade && version).then(|| derive_accept_key(key.as_bytes()))
}

/// Tells a page why it gets no lab (an error event it logs, then a close
/// frame whose reason it shows), without opening one.
async fn refuse_lab<S>(mut socket: WebSocketStream<S>, refusal: String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let events = ServerMessage::Events {
        events: vec![Event {
            at: 0,
            kind: EventKind::Error {
                message: refusal.clone(),
            },
        }],
    };
    let text = serde_json::to_string(&events).expect("protocol messages always serialize");
    let goodbye = async {
        socket.send(Message::text(text)).await?;
        let frame = CloseFrame {
            code: CloseCode::from(session::CLOSE_LAB_ENDED),
            reason: session::close_reason(&refusal).into(),
        };
        socket.send(Message::Close(Some(frame))).await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
}

/// Everything else: a file of the app, or the app's page for unknown paths.
async fn app_file(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    // Paths without an extension are the app's own routes; a missing file
    // with one is a real 404.
    let looks_like_a_file = path
        .rsplit('/')
        .next()
        .is_some_and(|name| name.contains('.'));
    let file = match AppFiles::get(path) {
        None if looks_like_a_file && AppFiles::get("index.html").is_some() => {
            return (StatusCode::NOT_FOUND, "no such file").into_response();
        }
        None => AppFiles::get("index.html"),
        found => found,
    };
    match file {
        Some(file) => {
            let cache = if path == "index.html" { "no-cache" } else { "public, max-age=60" };
            (
                [
                    (header::CONTENT_TYPE, file.metadata.mimetype().to_owned()),
                    (header::CACHE_CONTROL, cache.to_owned()),
                ],
                file.data,
            )
                .into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The Loopscope app is not built. Run scripts/run.sh, which builds it and starts the relay.",
        )
            .into_response(),
    }
}
