//! The workshop's routes: the feed of the host's push every page listens
//! to, and the host's dashboard and actions, behind the host token.
//!
//! * `GET /lesson?token=JOIN`: server-sent events, one [`PushFeed`] now
//!   and one per change (the join token, when the room has one);
//! * `GET /host/room?token=HOST`: the [`RoomView`] now as JSON, or with
//!   `Accept: text/event-stream`, server-sent events, one a second;
//! * `POST /host/labs/{lab}/close`, `PUT /host/lesson` (a [`Lead`] as
//!   JSON), `DELETE /host/lesson`: the host token as
//!   `Authorization: Bearer HOST` (or `?token=HOST`).
//!
//! Every route checks the [`guard`](crate::guard) first, as `/ws` does.
//! The streams end when the relay stops, so a graceful shutdown does not
//! wait for them.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use protocol::workshop::{Lead, PushFeed, RoomView};
use serde::Serialize;
use tokio::sync::watch;

use super::{Refused, Relay, admit_page, guard, header_text};
use crate::secret::query_value;

/// What a request without the host token is told.
pub const NEEDS_HOST_TOKEN: &str =
    "the host's dashboard needs the host token, which the relay printed in the host's terminal";

/// `GET /lesson`: the host's push, now and at each change.
pub async fn push_feed(State(relay): State<Relay>, uri: Uri, headers: HeaderMap) -> Response {
    if let Err(refused) = admit_page(&relay, &uri, &headers) {
        return refused.into_response();
    }
    events::<PushFeed>(&relay, relay.workshop.push_feed())
}

/// `GET /host/room`: the room now, or once a second as events.
pub async fn room_feed(State(relay): State<Relay>, uri: Uri, headers: HeaderMap) -> Response {
    if let Err(refused) = host_only(&relay, &uri, &headers) {
        return refused.into_response();
    }
    let streamed = header_text(&headers, header::ACCEPT)
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if streamed {
        events::<RoomView>(&relay, relay.workshop.room_views())
    } else {
        Json(relay.workshop.room_view()).into_response()
    }
}

/// `POST /host/labs/{lab}/close`: closes a lab; its page says the host did.
pub async fn close_lab(
    State(relay): State<Relay>,
    Path(lab): Path<u64>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = host_only(&relay, &uri, &headers) {
        return refused.into_response();
    }
    if relay.room.directory.close(lab) {
        tracing::info!(lab, "the host closed a lab");
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::NOT_FOUND, format!("no lab {lab} is open")).into_response()
    }
}

/// `PUT /host/lesson`: leads the room to a lesson link's scenario.
pub async fn lead(
    State(relay): State<Relay>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Err(refused) = host_only(&relay, &uri, &headers) {
        return refused.into_response();
    }
    let lead: Lead = match serde_json::from_str(&body) {
        Ok(lead) => lead,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("expected {{\"link\": \"…\"}}: {error}"),
            )
                .into_response();
        }
    };
    match relay.workshop.lead(&lead.link) {
        Ok(push) => {
            tracing::info!(query = %push.query, "the host pushes a scenario");
            Json(push).into_response()
        }
        Err(reason) => (StatusCode::BAD_REQUEST, reason).into_response(),
    }
}

/// `DELETE /host/lesson`: takes the host's push back.
pub async fn stop_leading(State(relay): State<Relay>, uri: Uri, headers: HeaderMap) -> Response {
    if let Err(refused) = host_only(&relay, &uri, &headers) {
        return refused.into_response();
    }
    relay.workshop.stop_leading();
    StatusCode::NO_CONTENT.into_response()
}

/// The guard, then the host token (a bearer token, or `?token=` where a
/// browser cannot set a header: `EventSource`).
fn host_only(relay: &Relay, uri: &Uri, headers: &HeaderMap) -> Result<(), Refused> {
    guard(relay, headers)?;
    let bearer = header_text(headers, header::AUTHORIZATION)
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let offered = bearer.or_else(|| query_value(uri.query(), "token"));
    if relay.workshop.host.admits(offered) {
        Ok(())
    } else {
        Err((StatusCode::UNAUTHORIZED, NEEDS_HOST_TOKEN.to_owned()))
    }
}

/// A watched value as server-sent events: the value now, then each
/// change (a slow reader skips to the newest), until the relay stops.
fn events<T>(relay: &Relay, watched: watch::Receiver<T>) -> Response
where
    T: Clone + Serialize + Send + Sync + 'static,
{
    let stop = relay.stop.clone().cancelled_owned();
    let stream = changes(watched)
        .map(|value| {
            let event = SseEvent::default()
                .json_data(value)
                .unwrap_or_else(|_| SseEvent::default().comment("unserializable"));
            Ok::<_, Infallible>(event)
        })
        .take_until(stop);
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store".parse().expect("a valid header"),
    );
    response
}

fn changes<T: Clone + Send + Sync + 'static>(watched: watch::Receiver<T>) -> impl Stream<Item = T> {
    futures::stream::unfold((watched, true), |(mut watched, first)| async move {
        if !first {
            watched.changed().await.ok()?;
        }
        let value = watched.borrow_and_update().clone();
        Some((value, (watched, false)))
    })
}
