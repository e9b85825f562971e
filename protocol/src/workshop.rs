//! The workshop's vocabulary: what the relay tells a host's dashboard about
//! the room, and the host's push: the scenario the host leads the room to.
//!
//! Over HTTP, beside the labs' WebSocket:
//!
//! * `GET /host/room` (host token): the [`RoomView`] now as JSON, or, with
//!   `Accept: text/event-stream`, a server-sent event stream of them, one
//!   a second;
//! * `POST /host/labs/{lab}/close`, `PUT /host/lesson` with a [`Lead`],
//!   `DELETE /host/lesson` (host token): what the host does;
//! * `GET /lesson` (join token): a server-sent event stream of
//!   [`PushFeed`]s, the current one first, then one per change.

use serde::{Deserialize, Serialize};

use crate::ServerModel;

/// How much of a capped resource is in use.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Usage {
    /// Taken now.
    pub used: u64,
    /// The cap.
    pub cap: u64,
}

/// One lab, as the host sees it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LabView {
    /// The lab's number (the one its page shows).
    pub lab: u64,
    /// The address of the page that opened it.
    pub address: String,
    /// The model its echo server runs.
    pub model: ServerModel,
    /// Clients running now.
    pub clients: u64,
    /// Events its probe reported per second, over the last second.
    pub events_per_s: u64,
    /// CPU its server thread used over the last second, in % of one core.
    pub cpu_percent: f64,
    /// Events lost since the lab opened (its page fell behind).
    pub dropped: u64,
    /// Seconds since it opened.
    pub age_s: u64,
}

/// The relay's budget: what all labs share.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct RoomBudget {
    /// Labs open.
    pub labs: Usage,
    /// File descriptors held by labs and their clients.
    pub descriptors: Usage,
    /// Labs running the busy-poll model.
    pub busy_poll_labs: Usage,
    /// KiB the labs' clients may pin in kernel socket buffers.
    pub in_flight_kib: Usage,
    /// CPU the whole relay used over the last second, in % of one core.
    pub cpu_percent: f64,
    /// Cores of the machine (100% each).
    pub cores: u64,
}

/// What the host's dashboard shows, sampled once a second.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct RoomView {
    /// Every open lab, oldest first.
    pub labs: Vec<LabView>,
    /// The relay's budget.
    pub budget: RoomBudget,
    /// Clients running in all labs.
    pub clients: u64,
    /// Events per second from all labs.
    pub events_per_s: u64,
    /// The host's push in force, if any (`lesson` on the wire).
    pub lesson: Option<HostPush>,
    /// Pages listening for the host's push.
    pub followers: u64,
    /// The join link's token (`None`: pages need none), for the host to
    /// show the link again.
    pub join_token: Option<String>,
}

/// The host's push: a lesson link's query, which the page understands as
/// it understands its own address.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HostPush {
    /// Counts pushes from 1, so a page can tell a new push of the same
    /// scenario (the host restarting it) from the one it follows already.
    pub serial: u64,
    /// `?model=…&clients=…`, as in the page's address.
    pub query: String,
}

/// What `/lesson` streams to each page: the host's push in force, or none.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PushFeed {
    /// The host's push; `None` when the host leads none (`lesson` on the
    /// wire).
    pub lesson: Option<HostPush>,
}

/// The body of `PUT /host/lesson`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Lead {
    /// A lesson link, or its query alone.
    pub link: String,
}

/// Most bytes of a lesson link the relay passes on.
pub const MAX_LESSON_BYTES: usize = 2048;

/// The query of a lesson `link`: what follows its `?` (or the whole link
/// when it is a query already), without a `#fragment` or the page's own
/// `token`, which must not reach the room.
pub fn lesson_query(link: &str) -> Result<String, &'static str> {
    if link.len() > MAX_LESSON_BYTES {
        return Err("a lesson link has at most 2048 bytes");
    }
    let link = link.trim();
    let link = link.split('#').next().unwrap_or_default();
    let query = match link.split_once('?') {
        Some((_, query)) => query,
        None if link.contains('=') && !link.contains('/') => link,
        None => {
            return Err(
                "a lesson link carries its scenario after a '?', as the page's address does",
            );
        }
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("token"))
        .collect();
    if kept.is_empty() {
        return Err("this link names no scenario (model, clients, speed…)");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "=,*._-".contains(c);
    if !kept.iter().all(|pair| pair.chars().all(allowed)) {
        return Err("a lesson link's scenario holds letters, digits and = & , * . _ - only");
    }
    Ok(format!("?{}", kept.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lesson_link_keeps_its_scenario_and_loses_the_token_and_fragment() {
        let query = lesson_query(
            "http://192.168.1.20:8080/?token=k3yk3y&model=selector&clients=polite*3,slow#top",
        );
        assert_eq!(
            query.as_deref(),
            Ok("?model=selector&clients=polite*3,slow")
        );
        assert_eq!(
            lesson_query("model=blocking&speed=0.5").as_deref(),
            Ok("?model=blocking&speed=0.5")
        );
    }

    #[test]
    fn the_host_push_keeps_its_wire_names() {
        let push = HostPush {
            serial: 3,
            query: "?model=selector&clients=polite*3".to_owned(),
        };
        let feed = PushFeed {
            lesson: Some(push.clone()),
        };
        let json = serde_json::to_string(&feed).unwrap();
        assert_eq!(
            json,
            r#"{"lesson":{"serial":3,"query":"?model=selector&clients=polite*3"}}"#
        );
        assert_eq!(serde_json::from_str::<PushFeed>(&json).unwrap(), feed);
        assert_eq!(
            serde_json::to_string(&PushFeed { lesson: None }).unwrap(),
            r#"{"lesson":null}"#
        );
        let view = RoomView {
            lesson: Some(push),
            ..RoomView::default()
        };
        let view = serde_json::to_value(&view).unwrap();
        assert_eq!(view["lesson"]["serial"], 3);
    }

    #[test]
    fn links_without_a_scenario_or_with_markup_are_refused() {
        assert!(lesson_query("http://192.168.1.20:8080/").is_err());
        assert!(lesson_query("/?token=abc").is_err());
        assert!(lesson_query("?model=<script>").is_err());
        assert!(lesson_query(&format!("?model={}", "a".repeat(MAX_LESSON_BYTES))).is_err());
    }
}
