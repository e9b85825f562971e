//! The HTTP face of the relay: the app's files at `/`, labs at `/ws`.
//!
//! The app is embedded in the release binary (a workshop host copies one
//! file); debug builds read it from `dist/` at run time, so a rebuilt app is
//! served without rebuilding the relay.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::Config;
use crate::guard::DoorPolicy;
use crate::lab::Lab;
use crate::session;

/// The built app (`trunk build` writes it to `dist/`).
#[derive(Embed)]
#[folder = "../dist"]
#[allow_missing = true]
struct AppFiles;

/// Largest WebSocket frame or message the transport reads at all; commands
/// above the protocol's (smaller) cap are read, refused with an error event,
/// and the session goes on.
const TRANSPORT_MAX_MESSAGE: usize = 1024 * 1024;

/// What every request handler shares.
#[derive(Clone)]
pub struct Relay {
    config: Arc<Config>,
    door: Arc<DoorPolicy>,
    lab_slots: Arc<Semaphore>,
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
            lab_slots: Arc::new(Semaphore::new(config.max_labs)),
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

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `GET /ws`: checks the door, opens a lab, and hands the socket to a session.
async fn open_lab(
    State(relay): State<Relay>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let host = header_text(&headers, header::HOST);
    let origin = header_text(&headers, header::ORIGIN);
    if let Err(refusal) = relay.door.check(host, origin) {
        tracing::warn!(?host, ?origin, %refusal, "websocket refused");
        return (StatusCode::FORBIDDEN, refusal.to_string()).into_response();
    }
    let Ok(slot) = Arc::clone(&relay.lab_slots).try_acquire_owned() else {
        let message = format!(
            "this relay runs at most {} labs at once; close a tab or try again later",
            relay.config.max_labs
        );
        return (StatusCode::SERVICE_UNAVAILABLE, message).into_response();
    };
    let id = relay.next_lab.fetch_add(1, Ordering::Relaxed);
    let (lab, events) = match Lab::open(
        id,
        relay.config.echo_ip,
        relay.config.limits.clone(),
        relay.config.test_commands,
    )
    .await
    {
        Ok(opened) => opened,
        Err(error) => {
            tracing::error!(%error, "could not open a lab");
            let message = format!("could not open an echo server: {error}");
            return (StatusCode::INTERNAL_SERVER_ERROR, message).into_response();
        }
    };
    tracing::info!(lab = id, echo = %lab.echo_addr(), "lab opened");
    let stop = relay.stop.clone();
    let grace = relay.config.grace;
    let sessions = relay.sessions.clone();
    upgrade
        .max_message_size(TRANSPORT_MAX_MESSAGE)
        .max_frame_size(TRANSPORT_MAX_MESSAGE)
        .on_upgrade(move |socket| {
            sessions.track_future(async move {
                session::run(socket, lab, events, stop, grace).await;
                tracing::info!(lab = id, "lab closed");
                drop(slot);
            })
        })
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
