//! What a session's writer is asked to send beside the lab's event batches:
//! a reply that must not wait in the lab's buffer, a ping, the last close
//! frame.
//!
//! The session's reader and the lab's [`commands`](crate::commands) task
//! both ask, through one channel; only the writer
//! ([`session`](crate::session)) writes.

use protocol::Event;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// What the reader or the lab asks the writer to send.
pub enum Outgoing {
    /// An event that must not be lost in the lab's buffer (a command's error).
    Reply(Event),
    /// A keep-alive the browser answers with a pong.
    Ping,
    /// The last frame.
    Close {
        /// The close code.
        code: CloseCode,
        /// Why, for a person.
        reason: String,
    },
}
