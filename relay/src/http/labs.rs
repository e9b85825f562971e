//! `/ws`: a page's lab. The upgrade checks the [`guard`](crate::guard) and
//! the join token, then the room's lab caps (a refusal is a WebSocket
//! closed at once with the reason, which the page shows), then hands the
//! upgraded stream, metered by [`MeteredIo`], to a [`session`].

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::SinkExt;
use hyper_util::rt::TokioIo;
use protocol::{Event, EventKind, Limits, ServerMessage};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use super::{ReachedAt, Relay, admit_page, header_text};
use crate::lab::Lab;
use crate::session;
use crate::throttle::Tally;
use crate::ws_io::MeteredIo;

/// Labs opened, logged at most once a second.
static OPENED_LOG: Tally = Tally::new(Duration::from_secs(1));

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
pub async fn open_lab(
    State(relay): State<Relay>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    if let Err(refused) = admit_page(&relay, request.uri(), request.headers()) {
        return refused.into_response();
    }
    let headers = request.headers();
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
    // A relay bound to every address (0.0.0.0) opens the lab's echo port
    // on the address this page reached it by, so the port it shows is one
    // the page's machine can reach.
    let reached = request.extensions().get::<ReachedAt>().and_then(|at| at.0);
    let echo_ip = match reached {
        Some(reached) if relay.config.echo_ip.is_unspecified() => reached.ip(),
        _ => relay.config.echo_ip,
    };
    let id = relay.next_lab.fetch_add(1, Ordering::Relaxed);
    let opened = match slots {
        Ok(slots) => Lab::open(
            id,
            echo_ip,
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
    let directory = relay.room.directory.clone();
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
                let (listing, closed_by_host) = directory.list(id, peer.ip(), lab.gauge());
                session::run(socket, lab, events, stop, closed_by_host, grace).await;
                drop((listing, slots));
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
