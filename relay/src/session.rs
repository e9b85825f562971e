//! One browser's WebSocket session: greets with the lab's hello, forwards the
//! lab's events in batches, carries out commands, and tears the lab down when
//! the browser leaves or the relay stops.
//!
//! The socket is split in two: a writer task owns the sending half and is the
//! only one that writes; the reader (this task) turns frames into commands.
//! A bad frame gets an `error` event and the session goes on.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use protocol::{Command, Event, EventKind, ServerMessage};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::lab::Lab;
use crate::probe::EventStream;

/// How long events gather before they go out in one frame.
pub const BATCH_WINDOW: Duration = Duration::from_millis(20);
/// Most events in one frame (before folding: a busy lab's batch folds into
/// a few events per connection, so the larger the batch, the less to send).
pub const MAX_BATCH: usize = 8192;
/// How long a leaving session waits to say goodbye to a browser that does not
/// read.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the reader asks the writer to send.
enum Outgoing {
    /// An event that must not be lost in the lab's buffer (a command's error).
    Reply(Event),
    /// The last frame.
    Close { code: u16, reason: &'static str },
}

/// Why a session ended.
enum End {
    /// The browser sent a close frame; the handshake is finished after the
    /// lab is gone, so that a closed WebSocket means a closed lab.
    BrowserClosed,
    /// The socket broke (or the browser went without a close frame).
    BrowserGone,
    RelayStopping,
}

/// Runs a session until the browser leaves or `relay_stop` is cancelled; in
/// the latter case the lab's server first shuts down gracefully within
/// `grace`, and the browser watches it happen.
pub async fn run(
    socket: WebSocket,
    mut lab: Lab,
    events: EventStream,
    relay_stop: CancellationToken,
    grace: Duration,
) {
    let (mut sink, mut frames) = socket.split();
    let hello = ServerMessage::Hello(lab.hello());
    if send(&mut sink, &hello).await.is_err() {
        lab.close().await;
        return;
    }
    let (outgoing, outbox) = mpsc::channel(64);
    let mut writer = tokio::spawn(write_loop(sink, events, outbox));

    let end = tokio::select! {
        _ = relay_stop.cancelled() => End::RelayStopping,
        end = read_loop(&mut frames, &mut lab, &outgoing) => end,
    };
    if let End::RelayStopping = end {
        lab.shut_down(grace).await;
    }
    lab.close().await;
    match end {
        End::BrowserGone => writer.abort(),
        End::BrowserClosed => {
            writer.abort();
            // The next read sends the close reply and ends the stream.
            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, frames.next()).await;
        }
        End::RelayStopping => {
            let goodbye = Outgoing::Close {
                code: close_code::AWAY,
                reason: "the relay is shutting down",
            };
            let _ = outgoing.send(goodbye).await;
            if tokio::time::timeout(GOODBYE_TIMEOUT, &mut writer)
                .await
                .is_err()
            {
                writer.abort();
            }
        }
    }
}

/// Reads frames until the browser closes the socket (or it breaks).
async fn read_loop(
    frames: &mut futures::stream::SplitStream<WebSocket>,
    lab: &mut Lab,
    outgoing: &mpsc::Sender<Outgoing>,
) -> End {
    let max_bytes = lab.limits().max_command_bytes as usize;
    while let Some(frame) = frames.next().await {
        let reply = match frame {
            Ok(Message::Text(text)) if text.len() > max_bytes => Some(format!(
                "a command has at most {max_bytes} bytes; this one has {}",
                text.len()
            )),
            Ok(Message::Text(text)) => match serde_json::from_str::<Command>(&text) {
                Ok(command) => lab
                    .handle(command)
                    .await
                    .err()
                    .map(|refused| refused.to_string()),
                Err(error) => Some(format!("not a command: {error}")),
            },
            Ok(Message::Binary(_)) => {
                Some("commands are JSON text frames; binary frames are not understood".into())
            }
            // Pings are answered by the WebSocket layer.
            Ok(Message::Ping(_) | Message::Pong(_)) => None,
            Ok(Message::Close(_)) => return End::BrowserClosed,
            Err(error) => {
                tracing::debug!(%error, "websocket read failed");
                return End::BrowserGone;
            }
        };
        if let Some(message) = reply {
            let event = Event {
                at: lab.probe().now(),
                kind: EventKind::Error { message },
            };
            if outgoing.send(Outgoing::Reply(event)).await.is_err() {
                return End::BrowserGone;
            }
        }
    }
    End::BrowserGone
}

/// Sends replies and event batches until told to close.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut events: EventStream,
    mut outbox: mpsc::Receiver<Outgoing>,
) {
    // The lab's events end when the lab closes; a goodbye may still follow.
    let mut lab_open = true;
    loop {
        let message = tokio::select! {
            biased;
            outgoing = outbox.recv() => match outgoing {
                Some(Outgoing::Reply(event)) => ServerMessage::Events { events: vec![event] },
                Some(Outgoing::Close { code, reason }) => {
                    // The lab is closed, so its stream ends: flush what is
                    // left (the shutdown's last phases) before the goodbye.
                    while lab_open {
                        match events.next_batch(Duration::ZERO, MAX_BATCH).await {
                            Some(events) => {
                                if send(&mut sink, &ServerMessage::Events { events }).await.is_err() {
                                    return;
                                }
                            }
                            None => lab_open = false,
                        }
                    }
                    let frame = CloseFrame { code, reason: reason.into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    return;
                }
                None => return,
            },
            batch = events.next_batch(BATCH_WINDOW, MAX_BATCH), if lab_open => match batch {
                Some(events) => ServerMessage::Events { events },
                None => {
                    lab_open = false;
                    continue;
                }
            },
        };
        if send(&mut sink, &message).await.is_err() {
            return;
        }
    }
}

async fn send(
    sink: &mut SplitSink<WebSocket, Message>,
    message: &ServerMessage,
) -> Result<(), axum::Error> {
    let text = serde_json::to_string(message).expect("protocol messages always serialize");
    sink.send(Message::Text(text.into())).await
}
