//! The HTTP face of the relay: the app's files at `/`, labs at `/ws`, served
//! by an accept loop that a hostile network cannot exhaust.
//!
//! * At most [`Limits::max_http_connections`] connections at once, and
//!   [`Limits::max_http_connections_per_address`] from one address; more
//!   are told why as they are accepted (503 or 429, in words, before their
//!   request is read) and closed. At most [`HTTP_REFUSALS`] are
//!   being told at once, each for at most [`REFUSAL_LINGER`]; past that, a
//!   refused connection is closed with no words, so a flood of connections
//!   cannot make the relay hold descriptors for its refusals.
//! * A request whose headers take longer than
//!   [`Limits::header_timeout_s`] loses its connection (hyper's header
//!   timeout, which also bounds an idle keep-alive connection): a slowloris
//!   that sends a header byte every ten seconds is closed, and the page
//!   still loads meanwhile.
//! * A failed `accept()` (out of descriptors) pauses the loop instead of
//!   spinning; repeated log lines are rate-limited.
//!
//! Routes, each in its module:
//!
//! * `/ws`, a page's lab ([`labs`]), behind the [`guard`](crate::guard)
//!   and the join token;
//! * `/lesson` and `/host/…`, the workshop ([`host`]): the host's push,
//!   the host's dashboard and what the host may do;
//! * everything else, the app's files ([`assets`]), compressed and cached.
//!   The app is embedded in the release binary (a workshop host copies one
//!   file); debug builds read it from `dist/` at run time, so a rebuilt app
//!   is served without rebuilding the relay.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::Response;
use axum::routing::{get, post, put};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use protocol::Limits;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::Config;
use crate::guard::DoorPolicy;
use crate::room::{Budget, HTTP_REFUSALS, PerAddress, Room};
use crate::throttle::Tally;
use crate::workshop::Workshop;

pub mod assets;
mod host;
mod labs;

/// Most bytes of a request body (a lesson link's JSON).
pub const MAX_BODY_BYTES: usize = protocol::workshop::MAX_LESSON_BYTES + 1024;

/// How long the accept loop pauses after `accept()` fails.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long a refused connection is given to read its refusal and close.
pub const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Refusals at the HTTP door, logged at most once a second.
static REFUSED_LOG: Tally = Tally::new(Duration::from_secs(1));
/// Accept failures, logged at most once a second.
static ACCEPT_LOG: Tally = Tally::new(Duration::from_secs(1));

/// The relay's own address of a request's connection (the one the client
/// connected to).
#[derive(Debug, Clone, Copy)]
pub struct ReachedAt(pub Option<SocketAddr>);

/// What every request handler shares.
#[derive(Clone)]
pub struct Relay {
    config: Arc<Config>,
    door: Arc<DoorPolicy>,
    room: Room,
    workshop: Arc<Workshop>,
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
        let workshop = Workshop::new(config.join_token.clone(), config.host_token.clone());
        Relay {
            room: Room::new(config.limits.clone()),
            workshop: Arc::new(workshop),
            door: Arc::new(door),
            config: Arc::new(config),
            next_lab: Arc::new(AtomicU64::new(1)),
            stop,
            sessions,
        }
    }

    /// Samples the room for the host's dashboard until the relay stops.
    pub fn sample_room(&self) -> impl Future<Output = ()> + use<> {
        crate::workshop::sample_room(
            self.room.clone(),
            Arc::clone(&self.workshop),
            self.stop.clone(),
        )
    }

    /// The routes.
    pub fn router(self) -> Router {
        Router::new()
            .route("/ws", get(labs::open_lab))
            .route("/lesson", get(host::push_feed))
            .route("/host/room", get(host::room_feed))
            .route("/host/labs/{lab}/close", post(host::close_lab))
            .route("/host/lesson", put(host::lead).delete(host::stop_leading))
            .fallback(get(app_file))
            .with_state(self)
            // The only body the relay reads is a lesson link: a larger one
            // is refused (413) before it is buffered, token or not.
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
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
    let connections = Budget::new(limits.max_http_connections);
    let per_address = PerAddress::new(limits.max_http_connections_per_address);
    let refusals = Budget::new(HTTP_REFUSALS as u32);
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
            .map_err(|_| {
                let words = format!(
                    "this relay serves at most {} HTTP connections at once and all are taken; try again in a moment",
                    limits.max_http_connections
                );
                ("503 Service Unavailable", words)
            })
            .and_then(|total| {
                per_address
                    .take(peer.ip())
                    .map(|one| (total, one))
                    .map_err(|held| {
                        let words = format!(
                            "your address ({}) has {held} HTTP connections open, the most one address may; close some and try again",
                            peer.ip()
                        );
                        ("429 Too Many Requests", words)
                    })
            });
        let slots = match slots {
            Ok(slots) => slots,
            Err((status, words)) => {
                if let Some(report) = REFUSED_LOG.count(Instant::now()) {
                    tracing::warn!(%peer, since_last = report.since_last, "connection refused: {words}");
                }
                if let Ok(telling) = refusals.take(1) {
                    open.spawn(async move {
                        refuse_connection(stream, status, &words).await;
                        drop(telling);
                    });
                }
                continue;
            }
        };
        // Where the page reached us: a relay bound to every address gives
        // each lab an echo port on the address its page used.
        let reached = ReachedAt(stream.local_addr().ok());
        let service =
            router
                .clone()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request.extensions_mut().insert(reached);
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

/// Tells a connection past a cap why it is not served (`status`, `words`)
/// and closes it. The answer goes out at once, before the request is read,
/// then what the client sends is read and dropped until it closes (closing
/// with its request unread would reset the connection, and the client might
/// lose the answer), for at most [`REFUSAL_LINGER`] in all.
async fn refuse_connection(mut stream: tokio::net::TcpStream, status: &str, words: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{words}",
        words.len()
    );
    let tell = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        let mut unread = [0; 1024];
        while stream.read(&mut unread).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSAL_LINGER, tell).await;
}

/// A refusal at the door: its status and its words.
type Refused = (axum::http::StatusCode, String);

/// What a page without the join token is told (the 401's body, which the
/// page shows).
pub const NEEDS_TOKEN: &str =
    "this relay runs a workshop: open the join link the host shows (it carries the room's token)";

/// The guard's answer to a request's `Host` and `Origin`: a 403 if they
/// are not this relay's.
fn guard(relay: &Relay, headers: &HeaderMap) -> Result<(), Refused> {
    let host = header_text(headers, header::HOST);
    let origin = header_text(headers, header::ORIGIN);
    relay.door.check(host, origin).map_err(|refusal| {
        if let Some(report) = REFUSED_LOG.count(Instant::now()) {
            tracing::warn!(?host, ?origin, %refusal, since_last = report.since_last, "request refused");
        }
        (axum::http::StatusCode::FORBIDDEN, refusal.to_string())
    })
}

/// Whether a page may come in (open a lab, follow the host): the guard,
/// then the join token in `uri`'s query (a 401 without it).
fn admit_page(relay: &Relay, uri: &Uri, headers: &HeaderMap) -> Result<(), Refused> {
    guard(relay, headers)?;
    if relay
        .workshop
        .lets_in(crate::secret::query_value(uri.query(), "token"))
    {
        return Ok(());
    }
    if let Some(report) = REFUSED_LOG.count(Instant::now()) {
        tracing::warn!(
            since_last = report.since_last,
            "request without the join token"
        );
    }
    Err((axum::http::StatusCode::UNAUTHORIZED, NEEDS_TOKEN.to_owned()))
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Everything else: a file of the app, or the app's page for its own
/// routes (`/`, `/host`).
async fn app_file(uri: Uri, headers: HeaderMap) -> Response {
    assets::app_file(uri.path(), &headers).await
}
