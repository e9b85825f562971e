//! One browser's WebSocket session: greets with the lab's hello, forwards the
//! lab's events in batches, passes commands to the lab, and tears the lab
//! down when the browser leaves, stops answering, or the relay stops.
//!
//! Three tasks, so that none waits on another:
//!
//! * the reader (this task) only reads: it answers nothing itself, rate-limits
//!   commands and hands them to the lab, and notices a close or a silent
//!   browser at once, even while the lab carries out a long command;
//! * the writer owns the sending half and is the only one that writes
//!   (batches, replies, pings, the last close frame);
//! * the lab's [`commands`] task carries the commands out, one at a time.
//!
//! Refusals never cost more than what was refused: a burst of bad or
//! excess commands gets one error event a second, with the count.

use std::time::{Duration, Instant};

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use protocol::{Command, Event, EventKind, Limits, ServerMessage};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use crate::commands::{self, Closing};
use crate::lab::Lab;
use crate::outgoing::Outgoing;
use crate::probe::EventStream;
use crate::throttle::TokenBucket;
use crate::ws_io::{TOO_BIG, TOO_MANY_FRAGMENTS};

/// How long events gather before they go out in one frame.
pub const BATCH_WINDOW: Duration = Duration::from_millis(20);
/// Most events in one frame (before folding: a busy lab's batch folds into
/// a few events per connection, so the larger the batch, the less to send).
pub const MAX_BATCH: usize = 8192;
/// How long a leaving session waits to say goodbye to a browser that does not
/// read.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);
/// Refused frames answered with an error event at once; past that, one a
/// second, saying how many went unanswered.
const REFUSAL_BURST: u32 = 5;

/// Close code for a lab the relay closed on purpose (idle, paused too long),
/// in the range left to applications; the reason says why.
pub const CLOSE_LAB_ENDED: u16 = 4000;

/// Why the reader stopped.
enum End {
    /// The browser sent a close frame.
    BrowserClosed,
    /// The socket broke (or the browser went without a close frame).
    BrowserGone,
    /// No frame (not even a pong) for the ping timeout.
    BrowserSilent,
    /// A message over the size cap: close 1009.
    TooBig,
    /// A message in too many fragments: close 1008.
    TooManyFragments,
    /// The relay is stopping.
    RelayStopping,
    /// The lab closed itself (idle, paused too long).
    LabEnded(Option<Closing>),
    /// The workshop's host closed the lab from the dashboard.
    ClosedByHost,
}

/// What a page whose lab the host closed is told.
pub const CLOSED_BY_HOST: &str = "the workshop's host closed this lab; open a new one to go on";

/// Runs a session over `socket` until the browser leaves, `closed_by_host`
/// or `relay_stop` is cancelled; in the latter case the lab's server first
/// shuts down gracefully within `grace`, and the browser watches it happen.
pub async fn run<S>(
    socket: WebSocketStream<S>,
    lab: Lab,
    events: EventStream,
    relay_stop: CancellationToken,
    closed_by_host: CancellationToken,
    grace: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = lab.limits().clone();
    let (mut sink, mut frames) = socket.split();
    let hello = ServerMessage::Hello(lab.hello());
    if send(&mut sink, &hello).await.is_err() {
        lab.close().await;
        return;
    }
    let probe = lab.probe().clone();
    let (outgoing, outbox) = mpsc::channel(64);
    let mut writer = tokio::spawn(write_loop(sink, events, outbox));
    // Unbounded, yet bounded: the rate limit caps what comes in, and the
    // lab's task takes every order at once into its own capped queue.
    let (orders, inbox) = mpsc::unbounded_channel();
    let close_now = CancellationToken::new();
    let mut lab_task = tokio::spawn(commands::carry_out(
        lab,
        inbox,
        outgoing.clone(),
        close_now.clone(),
        relay_stop.clone(),
        grace,
    ));

    let mut reader = Reader {
        limits: &limits,
        orders: &orders,
        outgoing: &outgoing,
        commands: TokenBucket::new(
            limits.max_commands_per_second,
            limits.max_commands_per_second.saturating_mul(2),
            Instant::now(),
        ),
        replies: TokenBucket::new(1, REFUSAL_BURST, Instant::now()),
        unanswered: 0,
        probe,
    };
    let end = tokio::select! {
        _ = relay_stop.cancelled() => End::RelayStopping,
        _ = closed_by_host.cancelled() => End::ClosedByHost,
        closing = &mut lab_task => End::LabEnded(closing.ok()),
        end = reader.read(&mut frames) => end,
    };
    // The reader's probe would keep the lab's event stream open: the
    // goodbye below flushes that stream to its end.
    drop(reader);
    // The lab task ends by itself on RelayStopping (after the graceful
    // shutdown); otherwise it is told to close now.
    let end = match end {
        End::LabEnded(closing) => End::LabEnded(closing),
        end => {
            if !matches!(end, End::RelayStopping) {
                close_now.cancel();
            }
            let _ = lab_task.await;
            end
        }
    };
    let drain = matches!(end, End::TooBig | End::TooManyFragments);
    let goodbye = match end {
        End::BrowserGone | End::BrowserSilent => None,
        End::BrowserClosed => {
            writer.abort();
            // The next read sends the close reply and ends the stream.
            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, frames.next()).await;
            None
        }
        End::TooBig => Some((
            CloseCode::Size,
            format!("a command has at most {} bytes", limits.max_command_bytes),
        )),
        End::TooManyFragments => Some((CloseCode::Policy, TOO_MANY_FRAGMENTS.to_owned())),
        End::RelayStopping => Some((CloseCode::Away, "the relay is shutting down".to_owned())),
        End::ClosedByHost => {
            // Said as an event too, so the page's log keeps it.
            let event = Event {
                at: 0,
                kind: EventKind::Error {
                    message: CLOSED_BY_HOST.to_owned(),
                },
            };
            let _ = outgoing.send(Outgoing::Reply(event)).await;
            Some((CloseCode::from(CLOSE_LAB_ENDED), CLOSED_BY_HOST.to_owned()))
        }
        End::LabEnded(closing) => Some(match closing {
            Some(Closing::Expired(reason)) => (CloseCode::from(CLOSE_LAB_ENDED), reason),
            _ => (CloseCode::Away, "the lab closed".to_owned()),
        }),
    };
    match goodbye {
        Some((code, reason)) => {
            let _ = outgoing.send(Outgoing::Close { code, reason }).await;
            match tokio::time::timeout(GOODBYE_TIMEOUT, &mut writer).await {
                Ok(Ok(Some(sink))) if drain => {
                    // The parser gave up on this stream; read (and drop)
                    // what the page still sends, below it, until the page
                    // closes: closing with unread bytes would send a reset,
                    // and the page would never read the close frame.
                    if let Ok(mut socket) = frames.reunite(sink) {
                        let mut nowhere = tokio::io::sink();
                        let discard = tokio::io::copy(socket.get_mut(), &mut nowhere);
                        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, discard).await;
                    }
                }
                Ok(_) => {}
                Err(_) => writer.abort(),
            }
        }
        None => writer.abort(),
    }
}

/// The reading side and what it needs.
struct Reader<'a> {
    limits: &'a Limits,
    orders: &'a mpsc::UnboundedSender<Command>,
    outgoing: &'a mpsc::Sender<Outgoing>,
    commands: TokenBucket,
    /// Error replies to refused frames.
    replies: TokenBucket,
    /// Refused frames not answered since the last reply.
    unanswered: u64,
    probe: crate::probe::Probe,
}

impl Reader<'_> {
    /// Reads frames until the browser closes the socket, breaks it, or goes
    /// silent; pings it meanwhile.
    async fn read<S>(&mut self, frames: &mut SplitStream<WebSocketStream<S>>) -> End
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let timeout = Duration::from_secs(self.limits.ping_timeout_s.max(1).into());
        let mut pings = tokio::time::interval(timeout / 3);
        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heard = tokio::time::Instant::now();
        loop {
            let frame = tokio::select! {
                frame = frames.next() => frame,
                _ = pings.tick() => {
                    if heard.elapsed() >= timeout {
                        return End::BrowserSilent;
                    }
                    // A full outbox means the browser does not read; the
                    // timeout above will tell.
                    let _ = self.outgoing.try_send(Outgoing::Ping);
                    continue;
                }
            };
            heard = tokio::time::Instant::now();
            let refusal = match frame {
                None => return End::BrowserGone,
                Some(Ok(Message::Text(text))) => self.command(text.as_str()),
                Some(Ok(Message::Binary(_))) => {
                    Some("commands are JSON text frames; binary frames are not understood".into())
                }
                // Pings are answered by the WebSocket layer.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => None,
                Some(Ok(Message::Close(_))) => return End::BrowserClosed,
                Some(Err(tungstenite::Error::Capacity(_))) => return End::TooBig,
                Some(Err(tungstenite::Error::Io(error)))
                    if error.to_string() == TOO_MANY_FRAGMENTS =>
                {
                    return End::TooManyFragments;
                }
                Some(Err(tungstenite::Error::Io(error))) if error.to_string() == TOO_BIG => {
                    return End::TooBig;
                }
                Some(Err(error)) => {
                    tracing::debug!(%error, "websocket read failed");
                    return End::BrowserGone;
                }
            };
            if let Some(refusal) = refusal {
                self.refuse(refusal);
            }
        }
    }

    /// Hands a command to the lab, or says why not.
    fn command(&mut self, text: &str) -> Option<String> {
        let max_bytes = self.limits.max_command_bytes as usize;
        if text.len() > max_bytes {
            return Some(format!(
                "a command has at most {max_bytes} bytes; this one has {}",
                text.len()
            ));
        }
        if !self.commands.try_take(Instant::now()) {
            return Some(format!(
                "too many commands: a page may send {} a second",
                self.limits.max_commands_per_second
            ));
        }
        let command = match serde_json::from_str::<Command>(text) {
            Ok(command) => command,
            Err(error) => return Some(format!("not a command: {error}")),
        };
        match self.orders.send(command) {
            Ok(()) => None,
            Err(_) => Some("the lab has closed".into()),
        }
    }

    /// Sends an error event for a refused frame: a few at once, then one a
    /// second (with how many went unanswered meanwhile).
    fn refuse(&mut self, message: String) {
        if !self.replies.try_take(Instant::now()) {
            self.unanswered += 1;
            return;
        }
        let message = match std::mem::take(&mut self.unanswered) {
            0 => message,
            unanswered => format!("{message} ({unanswered} more refused without an answer)"),
        };
        let event = Event {
            at: self.probe.now(),
            kind: EventKind::Error { message },
        };
        // A browser that does not read loses the reply rather than stall
        // the reader.
        let _ = self.outgoing.try_send(Outgoing::Reply(event));
    }
}

/// Sends replies and event batches until told to close; gives the sending
/// half back once it has sent the close frame.
async fn write_loop<S>(
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    mut events: EventStream,
    mut outbox: mpsc::Receiver<Outgoing>,
) -> Option<SplitSink<WebSocketStream<S>, Message>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The lab's events end when the lab closes; a goodbye may still follow.
    let mut lab_open = true;
    loop {
        let message = tokio::select! {
            biased;
            outgoing = outbox.recv() => match outgoing {
                Some(Outgoing::Reply(event)) => ServerMessage::Events { events: vec![event] },
                Some(Outgoing::Ping) => {
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        return None;
                    }
                    continue;
                }
                Some(Outgoing::Close { code, reason }) => {
                    // The lab is closed, so its stream ends: flush what is
                    // left (the shutdown's last phases) before the goodbye.
                    while lab_open {
                        match events.next_batch(Duration::ZERO, MAX_BATCH).await {
                            Some(events) => {
                                if send(&mut sink, &ServerMessage::Events { events }).await.is_err() {
                                    return None;
                                }
                            }
                            None => lab_open = false,
                        }
                    }
                    let frame = CloseFrame { code, reason: close_reason(&reason).into() };
                    return sink.send(Message::Close(Some(frame))).await.ok().map(|()| sink);
                }
                None => return None,
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
            return None;
        }
    }
}

/// A close frame carries at most 123 bytes of reason: cut at a character
/// boundary (the whole reason also goes out as an error event first).
pub fn close_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

async fn send<S>(
    sink: &mut SplitSink<WebSocketStream<S>, Message>,
    message: &ServerMessage,
) -> Result<(), tungstenite::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let text = serde_json::to_string(message).expect("protocol messages always serialize");
    sink.send(Message::text(text)).await
}
