//! The wire vocabulary of Loopscope: what the relay tells the browser, and what
//! the browser asks of the relay.
//!
//! This crate is the contract between the parts (`relay`, `sim`, `frontend`);
//! it holds serde types and nothing else: no I/O, no JSON library, no clock.
//! On the wire every message is one WebSocket *text* frame holding one JSON
//! object whose `"type"` field names it in `snake_case`. The page
//! `docs/protocol.md` walks through a session for people who write their own
//! client; the tests at the bottom of this file pin the exact shapes.
//!
//! Direction and framing:
//!
//! * relay → browser: [`ServerMessage`]. The first frame of a session is
//!   always a [`ServerMessage::Hello`]; every later frame is a
//!   [`ServerMessage::Events`] batch of [`Event`]s, oldest first.
//! * browser → relay: [`Command`], one per frame.
//!
//! Times are [`Micros`]: microseconds since the lab started.

use serde::{Deserialize, Serialize};

pub mod goodbye;
pub mod presets;
pub mod workshop;

/// Bumped whenever a message changes shape incompatibly.
pub const PROTOCOL_VERSION: u32 = 1;

/// Microseconds since the lab (or the simulation) started.
pub type Micros = u64;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id_type!(
    /// A connection accepted by the lab's echo server, numbered from 1 in
    /// accept order.
    ConnId,
    "conn#"
);
id_type!(
    /// A task of the server (in the task model, one per connection), numbered
    /// from 1 in spawn order.
    TaskId,
    "task#"
);
id_type!(
    /// A client that the lab started on the browser's request, numbered from 1.
    ClientId,
    "client#"
);

/// The four ways of writing an echo server that the lesson compares.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum ServerModel {
    /// One thread, blocking `accept()` and `recv()`: one client at a time.
    Blocking,
    /// Non-blocking sockets polled in a loop: everyone served, a CPU burned.
    BusyPoll,
    /// A selector (`select`/`epoll`) tells which sockets are ready.
    Selector,
    /// One task per client on an event loop, suspended at each `await`.
    #[default]
    AsyncTasks,
}

/// A socket operation a task or a call can wait on.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum IoOp {
    /// Waiting for bytes to arrive (`recv`).
    Read,
    /// Waiting for room in the send buffer (`sendall`).
    Write,
}

/// A socket as the server sees it: its listening socket or a connection.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Sock {
    /// The listening socket (`accept` reads from it).
    Listener,
    /// An accepted connection.
    Conn(ConnId),
}

impl std::fmt::Display for Sock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sock::Listener => f.write_str("listener"),
            Sock::Conn(conn) => conn.fmt(f),
        }
    }
}

/// A socket call that can block the thread (blocking model).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// `accept()`: waits for a connection.
    Accept,
    /// `recv()`: waits for bytes.
    Recv,
    /// `sendall()`: waits for room in the send buffer.
    Send,
}

/// One socket in the ready set a `select()` returned.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ready {
    /// The socket.
    pub sock: Sock,
    /// What it is ready for.
    pub op: IoOp,
}

/// The phases of one event-loop iteration, in order.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum LoopPhase {
    /// Waiting in `select()` for a socket to be ready (or a timer to be due).
    Select,
    /// Handling the ready set: waking the tasks (or finding the callbacks)
    /// registered for each ready socket.
    ReadyEvents,
    /// Running the callbacks, or resuming the ready tasks one by one.
    Run,
    /// Running the timers that are due.
    Timers,
}

/// The steps of a graceful shutdown, in order.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum ShutdownPhase {
    /// The listening socket is closed: no new connections.
    StopAccepting,
    /// Connections in flight may finish until `deadline`.
    Draining {
        /// When the grace period ends.
        deadline: Micros,
    },
    /// Waiting for every connection in flight to end, with no deadline
    /// ([`ShutdownPolicy::WaitForEveryone`]).
    WaitingForEveryone,
    /// A goodbye line ([`GOODBYE`]) is being sent to every connection still
    /// open ([`ShutdownPolicy::NotifyFirst`]); they are closed next.
    Notifying,
    /// What still runs is cancelled: the grace period is over, or the
    /// policy gives none.
    Cancelling,
    /// The server has stopped.
    Stopped,
}

impl ShutdownPhase {
    /// The step in words, its deadline left out: `stop accepting`.
    pub fn name(self) -> &'static str {
        match self {
            ShutdownPhase::StopAccepting => "stop accepting",
            ShutdownPhase::Draining { .. } => "draining",
            ShutdownPhase::WaitingForEveryone => "waiting for everyone",
            ShutdownPhase::Notifying => "notifying",
            ShutdownPhase::Cancelling => "cancelling",
            ShutdownPhase::Stopped => "stopped",
        }
    }
}

/// What a graceful shutdown does with the connections still open once the
/// listener is closed: the choices the same shutdown code could make.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum ShutdownPolicy {
    /// Let them finish for a grace period, then cancel the rest.
    #[default]
    GraceThenCancel,
    /// Cancel them all at once.
    CancelAtOnce,
    /// Wait for every one of them to end, however long it takes.
    WaitForEveryone,
    /// Send each a goodbye line ([`GOODBYE`]), then close it.
    NotifyFirst,
}

impl ShutdownPolicy {
    /// Every policy, in the order a control offers them.
    pub const ALL: [ShutdownPolicy; 4] = [
        ShutdownPolicy::GraceThenCancel,
        ShutdownPolicy::CancelAtOnce,
        ShutdownPolicy::WaitForEveryone,
        ShutdownPolicy::NotifyFirst,
    ];

    /// Its name in commands, links and the Python programs' arguments.
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownPolicy::GraceThenCancel => "grace_then_cancel",
            ShutdownPolicy::CancelAtOnce => "cancel_at_once",
            ShutdownPolicy::WaitForEveryone => "wait_for_everyone",
            ShutdownPolicy::NotifyFirst => "notify_first",
        }
    }

    /// The policy named `name` (see [`ShutdownPolicy::as_str`]).
    pub fn from_name(name: &str) -> Option<ShutdownPolicy> {
        ShutdownPolicy::ALL
            .into_iter()
            .find(|policy| policy.as_str() == name)
    }

    /// Its label in the page.
    pub fn label(self) -> &'static str {
        match self {
            ShutdownPolicy::GraceThenCancel => "Grace, then cancel",
            ShutdownPolicy::CancelAtOnce => "Cancel at once",
            ShutdownPolicy::WaitForEveryone => "Wait for everyone",
            ShutdownPolicy::NotifyFirst => "Say goodbye, then close",
        }
    }

    /// Whether the grace period means anything under it.
    pub fn uses_grace(self) -> bool {
        self == ShutdownPolicy::GraceThenCancel
    }
}

/// The line a server sends each client still connected under
/// [`ShutdownPolicy::NotifyFirst`], before it closes the connection.
pub const GOODBYE: &[u8] = b"server shutting down, goodbye\n";

/// The longest a [`Command::ShutdownAfter`] may put a shutdown off.
pub const MAX_SHUTDOWN_DELAY_MS: u32 = 60_000;

/// What a connection handler does with an error such as a reset connection.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum HandlerStyle {
    /// `try`/`except` around the handler: log, close that socket, go on.
    #[default]
    Handled,
    /// No `except`: the error escapes the handler.
    Unhandled,
}

/// How a task ended.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TaskOutcome {
    /// It returned normally.
    Ok,
    /// It ended with an error (for example a connection reset by the peer).
    Failed {
        /// The error as the operating system or the handler put it.
        error: String,
    },
    /// It was cancelled (for example at the end of a shutdown's grace period).
    Cancelled,
}

/// What a client started by the lab does once connected.
///
/// Every parameter has a default, so `{"kind":"polite"}` is a whole behaviour.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientBehaviour {
    /// Sends `messages` messages of `size` bytes, one every `interval_ms`
    /// milliseconds, and reads each echo back before sending the next.
    Polite {
        /// How many messages to send.
        #[serde(default = "defaults::messages")]
        messages: u32,
        /// Bytes in each message.
        #[serde(default = "defaults::size")]
        size: u32,
        /// Pause between the echo of one message and the next send.
        #[serde(default = "defaults::interval_ms")]
        interval_ms: u32,
    },
    /// Sends each message one byte at a time, `byte_interval_ms` apart, and
    /// reads the echo.
    Slow {
        /// How many messages to send.
        #[serde(default = "defaults::slow_messages")]
        messages: u32,
        /// Bytes in each message.
        #[serde(default = "defaults::slow_size")]
        size: u32,
        /// Pause between two bytes.
        #[serde(default = "defaults::byte_interval_ms")]
        byte_interval_ms: u32,
    },
    /// Connects and never sends; leaves when the server closes. (Written
    /// with braces so that `deny_unknown_fields` holds for it too: serde lets
    /// a unit variant of a tagged enum ignore extra fields.)
    Silent {},
    /// Sends half of a `size`-byte message, then resets the connection.
    Crasher {
        /// Bytes in the message it never finishes.
        #[serde(default = "defaults::size")]
        size: u32,
    },
    /// Sends `bytes` bytes as fast as it can and never reads, so the server's
    /// send buffer fills up.
    Flood {
        /// How many bytes to send before closing.
        #[serde(default = "defaults::flood_bytes")]
        bytes: u32,
    },
}

impl Default for ClientBehaviour {
    fn default() -> Self {
        ClientBehaviour::Polite {
            messages: defaults::messages(),
            size: defaults::size(),
            interval_ms: defaults::interval_ms(),
        }
    }
}

mod defaults {
    pub fn messages() -> u32 {
        5
    }
    pub fn size() -> u32 {
        32
    }
    pub fn interval_ms() -> u32 {
        400
    }
    pub fn slow_messages() -> u32 {
        2
    }
    pub fn slow_size() -> u32 {
        8
    }
    pub fn byte_interval_ms() -> u32 {
        100
    }
    pub fn flood_bytes() -> u32 {
        1 << 20
    }
    pub fn grace_ms() -> u32 {
        2000
    }
}

/// What the relay lets one browser session (and the whole room) use; sent
/// in [`Hello`] so that a page knows the caps before it hits them and can
/// explain a refusal in words. Each is a flag of `relay` (see `relay
/// --help`); [`Limits::default`] holds the flags' defaults.
///
/// Fields missing from an older relay's hello take their defaults.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default)]
pub struct Limits {
    /// Most clients a lab runs at once; a `spawn_clients` that would pass it
    /// is refused whole.
    pub max_clients: u32,
    /// Most bytes in one command message or frame; a larger one closes the
    /// WebSocket with code 1009 (message too big).
    pub max_command_bytes: u32,
    /// Most messages a polite client may send.
    pub max_messages_per_client: u32,
    /// Most bytes in one client message.
    pub max_message_size: u32,
    /// Most bytes one flood client sends.
    pub max_flood_bytes: u32,
    /// Longest pause a client may take between messages (or bytes), and the
    /// longest grace a shutdown may give.
    pub max_pause_ms: u32,
    /// Most labs the relay runs at once.
    pub max_labs: u32,
    /// Most labs open at once from one address (one attendee's machine).
    pub max_labs_per_address: u32,
    /// Most connections to a lab's echo port from its page's own address
    /// (`nc`, `telnet`), besides the lab's own clients. Connections from any
    /// other address are closed at once.
    pub max_own_connections: u32,
    /// Most file descriptors all labs together may hold (their clients,
    /// connections and servers); a request that would pass it is refused.
    pub max_descriptors: u32,
    /// Most bytes a lab's clients may keep in flight in kernel socket
    /// buffers (a flood that is never read pins what it sent).
    pub max_lab_in_flight_bytes: u64,
    /// The same for all labs together.
    pub max_in_flight_bytes: u64,
    /// Send and receive buffer size of every lab socket, in bytes (the
    /// kernel doubles it for its own bookkeeping).
    pub socket_buffer_bytes: u32,
    /// Labs that may run the busy-poll model at once (each burns a core,
    /// at idle priority).
    pub max_busy_poll_labs: u32,
    /// Commands a page may send per second (in bursts of twice that); more
    /// are ignored, with one error a second saying how many.
    pub max_commands_per_second: u32,
    /// A page that answers no ping for this long loses its lab.
    pub ping_timeout_s: u32,
    /// A lab that gets no command for this long is closed.
    pub idle_timeout_s: u32,
    /// A lab paused for this long is closed (its clients would wait forever).
    pub pause_timeout_s: u32,
    /// Most HTTP connections open at once (all addresses).
    pub max_http_connections: u32,
    /// Most HTTP connections open at once from one address.
    pub max_http_connections_per_address: u32,
    /// An HTTP request whose headers take longer than this is dropped.
    pub header_timeout_s: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_clients: 1000,
            max_command_bytes: 64 * 1024,
            max_messages_per_client: 10_000,
            max_message_size: 64 * 1024,
            max_flood_bytes: 64 << 20,
            max_pause_ms: 60_000,
            max_labs: 64,
            max_labs_per_address: 8,
            max_own_connections: 16,
            max_descriptors: 16_384,
            max_lab_in_flight_bytes: 32 << 20,
            max_in_flight_bytes: 256 << 20,
            socket_buffer_bytes: 64 * 1024,
            max_busy_poll_labs: 4,
            max_commands_per_second: 50,
            ping_timeout_s: 30,
            idle_timeout_s: 30 * 60,
            pause_timeout_s: 5 * 60,
            max_http_connections: 512,
            max_http_connections_per_address: 64,
            header_timeout_s: 10,
        }
    }
}

/// The first message of every session: who you are talking to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the relay.
    pub protocol: u32,
    /// The lab's number within this relay run.
    pub lab: u64,
    /// Where the lab's echo server listens (`"127.0.0.1:PORT"`): `nc` into it
    /// and your connection shows up with the others.
    pub echo_addr: String,
    /// Which server model the echo server runs.
    pub model: ServerModel,
    /// The caps this session works within.
    pub limits: Limits,
}

/// One frame from the relay to the browser.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The first frame of a session.
    Hello(Hello),
    /// A batch of events, oldest first. Batches keep the frame rate low when
    /// the lab is busy.
    Events {
        /// The events, in the order they happened.
        events: Vec<Event>,
    },
}

/// Something that happened in a lab (or in a simulation), and when.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// When it happened, in microseconds since the lab started.
    pub at: Micros,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened: the lesson's vocabulary.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The echo server's listening socket is open.
    Listening {
        /// The address it listens on.
        addr: String,
        /// The server model it runs.
        model: ServerModel,
        /// What its handlers do with a client's error: which variant of
        /// the model's program runs.
        #[serde(default)]
        errors: HandlerStyle,
    },
    /// The server accepted a connection.
    Accepted {
        /// The new connection.
        conn: ConnId,
        /// The peer's address, as the server sees it.
        peer: String,
    },
    /// The server started a task: one per connection, or the main task
    /// that accepts (which serves no connection).
    TaskSpawned {
        /// The new task.
        task: TaskId,
        /// The connection it serves, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conn: Option<ConnId>,
    },
    /// A task suspended at `await`: it waits until `sock` is ready for `op`.
    TaskWaiting {
        /// The waiting task.
        task: TaskId,
        /// The socket it waits on.
        sock: Sock,
        /// What it waits for.
        op: IoOp,
    },
    /// The selector reported a waiting task's socket ready; the task joins
    /// the ready queue.
    TaskWoken {
        /// The task.
        task: TaskId,
    },
    /// The loop resumed a ready task; it runs until its next `await` that
    /// has to wait.
    TaskResumed {
        /// The task.
        task: TaskId,
    },
    /// The runtime polled a task: it ran for `duration_us` (ending at this
    /// event's time), then returned `Pending` (it waits) or `Ready` (done).
    TaskPolled {
        /// The task.
        task: TaskId,
        /// How long the poll ran.
        duration_us: Micros,
        /// Whether the task finished in this poll.
        ready: bool,
    },
    /// The server read bytes from a connection.
    Received {
        /// The connection.
        conn: ConnId,
        /// How many bytes.
        bytes: u64,
    },
    /// The server wrote bytes to a connection (the echo).
    Sent {
        /// The connection.
        conn: ConnId,
        /// How many bytes.
        bytes: u64,
    },
    /// A task ended.
    TaskFinished {
        /// The task.
        task: TaskId,
        /// The connection it served, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conn: Option<ConnId>,
        /// How it ended.
        outcome: TaskOutcome,
    },
    /// A failed task was dropped without anyone awaiting it: asyncio's late
    /// "Task exception was never retrieved".
    ExceptionNeverRetrieved {
        /// The task.
        task: TaskId,
        /// Its error.
        error: String,
    },
    /// A handler caught an error (say, a reset connection), closed that
    /// socket and went on.
    ErrorHandled {
        /// The connection that failed.
        conn: ConnId,
        /// The error.
        error: String,
    },
    /// An error escaped the server's loop: the whole server died, and every
    /// connection with it.
    ServerCrashed {
        /// The error.
        error: String,
        /// The call it escaped from, when known (a live server says; the
        /// simulator's lit line already stands there).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<Call>,
    },
    /// The thread entered a blocking call and is parked until it returns.
    CallBlocked {
        /// The call.
        call: Call,
        /// The socket it waits on.
        sock: Sock,
    },
    /// A blocking call returned; the thread runs again.
    CallReturned {
        /// The call.
        call: Call,
        /// The socket.
        sock: Sock,
    },
    /// Connections waiting in the listen backlog, connected but not yet
    /// accepted.
    Backlog {
        /// How many wait now.
        waiting: u32,
    },
    /// A busy loop's tally since its last report: high-rate happenings are
    /// counted, not sent one by one.
    Spins {
        /// Iterations of the loop.
        iterations: u64,
        /// Calls that would have blocked.
        would_block: u64,
    },
    /// Bytes waiting in a connection's kernel buffers, as `ss` shows them:
    /// received but not yet read by the server (`recv_queue`), and written
    /// by the server but not yet taken by the peer (`send_queue`). Sent
    /// when they change (live: sampled every 100 ms).
    Buffered {
        /// The connection.
        conn: ConnId,
        /// Bytes the server has not read yet.
        recv_queue: u64,
        /// Bytes on their way to the peer.
        send_queue: u64,
    },
    /// A busy connection's reads and writes over one batch, folded into one
    /// event when events come too fast to send one by one.
    Traffic {
        /// The connection.
        conn: ConnId,
        /// Bytes read from it.
        received: u64,
        /// Bytes written to it.
        sent: u64,
        /// How many reads.
        reads: u32,
        /// How many writes.
        writes: u32,
    },
    /// A busy task's polls, wakes and waits over one batch, folded into one
    /// event when events come too fast to send one by one.
    TaskActivity {
        /// The task.
        task: TaskId,
        /// Polls by the runtime.
        polls: u32,
        /// Wakes by the reactor.
        wakes: u32,
        /// Times it suspended.
        waits: u32,
        /// Microseconds it ran, over all its polls.
        busy_us: Micros,
    },
    /// The server's loop was paused or let run again.
    Stepping {
        /// Whether it is paused now.
        paused: bool,
    },
    /// A non-blocking call found nothing to do (`BlockingIOError`).
    WouldBlock {
        /// The socket tried.
        sock: Sock,
        /// What was tried.
        op: IoOp,
    },
    /// A socket was registered with the selector (or its interest changed).
    Registered {
        /// The socket.
        sock: Sock,
        /// The interest.
        op: IoOp,
        /// Whether it was registered already and its interest changed
        /// (`selector.modify()`, not `selector.register()`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        modify: bool,
    },
    /// A socket was removed from the selector.
    Unregistered {
        /// The socket.
        sock: Sock,
    },
    /// `select()` was called; the thread sleeps until a registered socket is
    /// ready or the timeout passes.
    SelectCalled {
        /// The timeout, `None` for none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_us: Option<Micros>,
    },
    /// `select()` returned these ready sockets.
    SelectReturned {
        /// The ready set.
        ready: Vec<Ready>,
    },
    /// The server's loop began another iteration.
    LoopIteration {
        /// Its number, from 1.
        iteration: u64,
    },
    /// The event loop moved to another phase of its iteration.
    Phase {
        /// The phase.
        phase: LoopPhase,
    },
    /// A step of a graceful shutdown.
    Shutdown {
        /// The step.
        #[serde(flatten)]
        phase: ShutdownPhase,
    },
    /// The server's program is at this line of its listing.
    CodeLine {
        /// The 1-based line number.
        line: u32,
    },
    /// How busy the server's thread was over the last window.
    Cpu {
        /// Microseconds it ran.
        busy_us: Micros,
        /// Microseconds in the window.
        window_us: Micros,
    },
    /// The server closed a connection.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// The lab started a client on the browser's request.
    ClientStarted {
        /// The client.
        client: ClientId,
        /// What it will do.
        behaviour: ClientBehaviour,
    },
    /// A client got the whole echo of a message back: the latency a user
    /// of the server feels.
    RoundTrip {
        /// The client.
        client: ClientId,
        /// From sending the message's first byte to reading its echo's last.
        latency_us: Micros,
    },
    /// A lab client is done.
    ClientFinished {
        /// The client.
        client: ClientId,
        /// Bytes it got back, each checked against what it sent.
        echoed: u64,
        /// Why it stopped early, if it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Whether the server said goodbye ([`GOODBYE`]) before it closed
        /// the connection: the client read the whole line and stopped there,
        /// which is no error.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        told_goodbye: bool,
    },
    /// Events were lost because the browser read more slowly than the lab
    /// produced them. The lab itself never waits for the browser.
    Dropped {
        /// How many events were lost since the last report.
        count: u64,
    },
    /// A command could not be carried out; the session goes on.
    Error {
        /// What was wrong, for a person to read.
        message: String,
    },
}

/// One frame from the browser to the relay.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Start `count` clients that connect to the lab's echo server and
    /// behave as `behaviour` says (a polite client when omitted).
    SpawnClients {
        /// How many clients to start.
        count: u32,
        /// What they do.
        #[serde(default)]
        behaviour: ClientBehaviour,
    },
    /// Shut the echo server down gracefully: stop accepting, then treat the
    /// connections in flight as `policy` says (by default: let them finish
    /// for `grace_ms`, cancel the rest).
    Shutdown {
        /// The grace period in milliseconds.
        #[serde(default = "defaults::grace_ms")]
        grace_ms: u32,
        /// What happens to the connections still open (grace then cancel
        /// when omitted).
        #[serde(default)]
        policy: ShutdownPolicy,
    },
    /// Shut the echo server down as [`Command::Shutdown`] does, `after_ms`
    /// from now on the relay's clock: a scripted run (the lesson's step 7)
    /// whose shutdown must come at a point of its clients' conversations,
    /// which a browser's timer and the network in between cannot promise
    /// on a busy machine. A shutdown or a restart meanwhile replaces it.
    ShutdownAfter {
        /// How long from now, in milliseconds (at most
        /// [`MAX_SHUTDOWN_DELAY_MS`]).
        after_ms: u32,
        /// The grace period in milliseconds.
        #[serde(default = "defaults::grace_ms")]
        grace_ms: u32,
        /// What happens to the connections still open.
        #[serde(default)]
        policy: ShutdownPolicy,
    },
    /// Restart the lab's echo server on the same port under another model
    /// (or the same one with other error handling); its connections are
    /// closed (clients may reconnect).
    SetModel {
        /// The model.
        model: ServerModel,
        /// What its handlers do with a client's error (handled when
        /// omitted).
        #[serde(default)]
        errors: HandlerStyle,
    },
    /// Stop the server's loop before its next iteration (thread-based
    /// models; the server really waits, and so do its clients).
    /// (Variants without parameters are written with braces so that
    /// `deny_unknown_fields` holds for them too.)
    Pause {},
    /// Let a paused loop run exactly one more iteration.
    Step {},
    /// Let the loop run freely again.
    Resume {},
    /// For tests of the relay only (refused unless it runs with
    /// `--test-commands`): the handler of `conn` panics at its next read.
    PanicHandler {
        /// The connection.
        conn: ConnId,
    },
}

#[cfg(test)]
mod tests;
