//! The live source: a WebSocket to the relay that served the page, kept open
//! with reconnection and backoff, turning frames into [`ServerMessage`]s.
//!
//! The retry schedule ([`Backoff`]) and the status it reports are plain Rust
//! and tested natively; the socket itself only runs in the browser.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{AbortHandle, Abortable};
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, WebSocketError};
use protocol::{Command, ServerMessage};
use yew::Callback;

/// Where the link to the relay stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkStatus {
    /// Opening the WebSocket.
    Connecting,
    /// The relay greeted us; events flow.
    Live,
    /// We had a relay and lost it; trying again after the delay.
    Lost {
        /// Seconds until the next try.
        retry_in_s: u32,
    },
    /// No relay has answered yet (the relay is not running, or the page
    /// came from a server that has none); trying again after the delay.
    NoRelay {
        /// Seconds until the next try.
        retry_in_s: u32,
    },
    /// The relay closed the lab on purpose (idle or paused too long, or
    /// a limit of the room) and said why; the page does not reconnect by
    /// itself, so a tab left open does not hold a lab forever.
    Closed {
        /// The relay's words.
        reason: String,
    },
    /// The relay refused this page at the door (a workshop's relay without
    /// the join link's token, or a page from a name it does not answer
    /// to) and said why; trying again would not help.
    Refused {
        /// The relay's words.
        reason: String,
    },
    /// The page is a static site's, built to come without a relay
    /// ([`crate::sources::site`]): nothing is tried.
    Static,
}

impl LinkStatus {
    /// Its one-word name, as the badge's `data-status` says it.
    pub fn key(&self) -> &'static str {
        match self {
            LinkStatus::Connecting => "connecting",
            LinkStatus::Live => "live",
            LinkStatus::Lost { .. } => "lost",
            LinkStatus::NoRelay { .. } => "no-relay",
            LinkStatus::Closed { .. } => "closed",
            LinkStatus::Refused { .. } => "refused",
            LinkStatus::Static => "static",
        }
    }
}

/// The statuses the link has reported, in order, each change once: a
/// status can last a moment only (a lab the relay closes for idleness is
/// live for its idle timeout), and whoever looks afterwards (a person
/// reading the badge's `data-history`, a browser test on a busy machine)
/// can still see that it was there. Kept where the link reports them, not
/// where they are drawn, since two reports can land before one redraw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusHistory {
    keys: std::collections::VecDeque<&'static str>,
}

impl StatusHistory {
    /// How many statuses it keeps: a page that reconnects all day must not
    /// grow it for ever.
    pub const LEN: usize = 32;

    /// Adds `status` unless it is the one reported last.
    pub fn record(&mut self, status: &LinkStatus) {
        let key = status.key();
        if self.keys.back() != Some(&key) {
            if self.keys.len() == Self::LEN {
                self.keys.pop_front();
            }
            self.keys.push_back(key);
        }
    }

    /// The history as the badge writes it: "connecting live closed".
    pub fn text(&self) -> String {
        self.keys.iter().copied().collect::<Vec<_>>().join(" ")
    }
}

/// The close code of a lab the relay closed on purpose, with the reason in
/// words (the relay's `session::CLOSE_LAB_ENDED`).
pub const CLOSE_LAB_ENDED: u16 = 4000;

/// What a close of the socket means for the link: `Some` when the relay
/// closed the lab on purpose and the page must not reconnect.
pub fn closed_on_purpose(code: u16, reason: &str) -> Option<LinkStatus> {
    (code == CLOSE_LAB_ENDED).then(|| LinkStatus::Closed {
        reason: reason.to_owned(),
    })
}

/// Doubling delays between reconnection attempts, from `first` up to `max`,
/// back to `first` once a connection succeeds.
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A schedule from `first` to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// A connection worked: start again from the shortest delay.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// The plain-HTTP address of a lab's WebSocket URL, where the relay says
/// in words why it would refuse the upgrade (a browser's WebSocket only
/// learns that it failed).
pub fn door_url(lab_url: &str) -> String {
    if let Some(rest) = lab_url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = lab_url.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        lab_url.to_owned()
    }
}

/// What a status from the door means: `Some` for a refusal (401: no or
/// wrong token; 403: a name or origin the relay does not answer to).
pub fn refused_at_the_door(status: u16, body: &str) -> Option<LinkStatus> {
    matches!(status, 401 | 403).then(|| LinkStatus::Refused {
        reason: body.trim().to_owned(),
    })
}

/// Asks the relay's door, over plain HTTP, why the WebSocket failed.
async fn ask_the_door(url: &str) -> Option<LinkStatus> {
    let answer = crate::sources::workshop::request("GET", &door_url(url), None, None)
        .await
        .ok()?;
    refused_at_the_door(answer.status, &answer.text)
}

/// The sending side of the link, handed to the views.
#[derive(Clone, Default)]
pub struct Link {
    commands: Rc<RefCell<Option<mpsc::UnboundedSender<String>>>>,
    stop: Rc<RefCell<Option<AbortHandle>>>,
}

impl PartialEq for Link {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.commands, &other.commands)
    }
}

impl Link {
    /// Sends a command if the relay is connected; says whether it went.
    pub fn send(&self, command: &Command) -> bool {
        let text = serde_json::to_string(command).expect("commands always serialize");
        match self.commands.borrow().as_ref() {
            Some(sender) => sender.unbounded_send(text).is_ok(),
            None => false,
        }
    }

    /// Closes the WebSocket for good (the relay then tears its lab down)
    /// and stops reconnecting.
    pub fn close(&self) {
        if let Some(stop) = self.stop.borrow_mut().take() {
            stop.abort();
        }
        // Dropping the sender ends the writer, which holds the other half.
        self.commands.borrow_mut().take();
    }
}

/// Keeps a WebSocket to `url` open for the life of the page, reconnecting
/// with backoff, and reports messages and status through the callbacks.
pub fn connect(
    url: String,
    on_message: Callback<Result<ServerMessage, String>>,
    on_status: Callback<LinkStatus>,
) -> Link {
    let link = Link::default();
    let commands = Rc::clone(&link.commands);
    let (stop, stopped) = AbortHandle::new_pair();
    *link.stop.borrow_mut() = Some(stop);
    let keep_open = async move {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(8));
        let mut ever_connected = false;
        // Later attempts keep saying "lost" or "no relay" with their
        // countdown: flipping back to "connecting" at each retry would make
        // the page flicker between its sources.
        on_status.emit(LinkStatus::Connecting);
        loop {
            if let Ok(socket) = WebSocket::open(&url) {
                let (mut write, mut read) = socket.split();
                let (sender, mut outbox) = mpsc::unbounded::<String>();
                *commands.borrow_mut() = Some(sender);
                wasm_bindgen_futures::spawn_local(async move {
                    while let Some(text) = outbox.next().await {
                        if write.send(Message::Text(text)).await.is_err() {
                            break;
                        }
                    }
                });
                let mut greeted = false;
                let mut closed = None;
                while let Some(frame) = read.next().await {
                    let frame = match frame {
                        Ok(frame) => frame,
                        Err(WebSocketError::ConnectionClose(event)) => {
                            closed = closed_on_purpose(event.code, &event.reason);
                            break;
                        }
                        Err(_) => break,
                    };
                    let Message::Text(text) = frame else { continue };
                    if !greeted {
                        greeted = true;
                        ever_connected = true;
                        backoff.reset();
                        on_status.emit(LinkStatus::Live);
                    }
                    let message = serde_json::from_str(&text)
                        .map_err(|error| format!("unreadable frame from the relay: {error}"));
                    on_message.emit(message);
                }
                // Dropping the sender ends the writer task above.
                commands.borrow_mut().take();
                if let Some(closed) = closed {
                    on_status.emit(closed);
                    return;
                }
                if !greeted && let Some(refused) = ask_the_door(&url).await {
                    on_status.emit(refused);
                    return;
                }
            }
            let delay = backoff.next_delay();
            let retry_in_s = delay.as_secs_f64().ceil() as u32;
            on_status.emit(if ever_connected {
                LinkStatus::Lost { retry_in_s }
            } else {
                LinkStatus::NoRelay { retry_in_s }
            });
            gloo_timers::future::sleep(delay).await;
        }
    };
    wasm_bindgen_futures::spawn_local(async move {
        let _ = Abortable::new(keep_open, stopped).await;
    });
    link
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_history_keeps_each_change_once_and_forgets_the_oldest_past_its_length() {
        let mut history = StatusHistory::default();
        history.record(&LinkStatus::Connecting);
        history.record(&LinkStatus::Live);
        history.record(&LinkStatus::Live);
        history.record(&LinkStatus::Closed {
            reason: "idle".into(),
        });
        assert_eq!(history.text(), "connecting live closed");
        for _ in 0..StatusHistory::LEN {
            history.record(&LinkStatus::Lost { retry_in_s: 1 });
            history.record(&LinkStatus::Live);
        }
        let kept = history.text();
        assert_eq!(kept.split(' ').count(), StatusHistory::LEN);
        assert!(!kept.contains("connecting"), "{kept}");
        assert!(kept.ends_with("lost live"), "{kept}");
    }

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(4));
        let delays: Vec<_> = (0..6).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![500, 1000, 2000, 4000, 4000, 4000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn only_a_lab_closed_on_purpose_stops_the_reconnecting() {
        assert_eq!(
            closed_on_purpose(4000, "idle"),
            Some(LinkStatus::Closed {
                reason: "idle".into()
            })
        );
        assert_eq!(closed_on_purpose(1001, "the relay is shutting down"), None);
        assert_eq!(closed_on_purpose(1006, ""), None);
    }

    #[test]
    fn the_door_is_the_same_address_over_http_and_only_401_and_403_refuse() {
        assert_eq!(
            door_url("ws://10.0.0.1:8080/ws?token=x"),
            "http://10.0.0.1:8080/ws?token=x"
        );
        assert_eq!(door_url("wss://lab.example/ws"), "https://lab.example/ws");
        assert_eq!(
            refused_at_the_door(401, "needs the token\n"),
            Some(LinkStatus::Refused {
                reason: "needs the token".into()
            })
        );
        assert!(refused_at_the_door(403, "origin").is_some());
        assert_eq!(refused_at_the_door(400, "WebSocket only"), None);
        assert_eq!(refused_at_the_door(503, ""), None);
    }
}
