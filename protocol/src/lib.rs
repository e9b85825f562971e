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
        200
    }
}

/// What the relay lets one browser session use; sent in [`Hello`] so that a
/// client knows the caps before it hits them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most clients a lab runs at once; a `spawn_clients` that would pass it
    /// is refused whole.
    pub max_clients: u32,
    /// Most bytes in one command frame; a larger frame closes the WebSocket
    /// with code 1009 (message too big).
    pub max_command_bytes: u32,
    /// Most messages a polite client may send.
    pub max_messages_per_client: u32,
    /// Most bytes in one client message.
    pub max_message_size: u32,
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
    },
    /// The server accepted a connection.
    Accepted {
        /// The new connection.
        conn: ConnId,
        /// The peer's address, as the server sees it.
        peer: String,
    },
    /// The server started a task to serve a connection.
    TaskSpawned {
        /// The new task.
        task: TaskId,
        /// The connection it serves.
        conn: ConnId,
    },
    /// A task suspended: it waits until its socket is ready for `op`.
    TaskWaiting {
        /// The waiting task.
        task: TaskId,
        /// The socket it waits on.
        conn: ConnId,
        /// What it waits for.
        op: IoOp,
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
        /// The connection it served.
        conn: ConnId,
        /// How it ended.
        outcome: TaskOutcome,
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
    /// A lab client is done.
    ClientFinished {
        /// The client.
        client: ClientId,
        /// Bytes it got back, each checked against what it sent.
        echoed: u64,
        /// Why it stopped early, if it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
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
}

#[cfg(test)]
mod tests;
