//! The Python programs the simulation follows, two per model (a client's
//! error handled by `except ConnectionError`, or not), and the lines it
//! lights as it steps.
//!
//! The programs live in `sim/python/` and are real: a test runs each against
//! real TCP clients and checks that it survives or dies of a reset client as
//! the simulation says. A model names the lines it runs by a piece of their
//! code (an anchor); [`Listing::line`] finds the line, and a test checks that
//! every anchor is found exactly once, so editing a program cannot silently
//! break the highlighting.

use protocol::{Call, EventKind, HandlerStyle, IoOp, ServerModel, ShutdownPhase, Sock};

/// Pieces of code every listing's shutdown has, in the order a shutdown
/// runs them: the listener closes, the grace period ends, the program says
/// it is done.
pub const STOP_ACCEPTING: &str = "# stop accepting";
/// See [`STOP_ACCEPTING`].
pub const GRACE_OVER: &str = "# the grace period is over";
/// See [`STOP_ACCEPTING`].
pub const SHUT_DOWN: &str = "print(\"shut down\"";

/// The lines of the shutdown policies only asyncio's program offers
/// ([`protocol::ShutdownPolicy`]): each cancels, waits or says goodbye at a
/// line of its own branch.
pub const CANCEL_AT_ONCE: &str = "# cancel at once";
/// See [`CANCEL_AT_ONCE`].
pub const WAIT_FOR_EVERYONE: &str = "# wait for everyone, no deadline";
/// See [`CANCEL_AT_ONCE`].
pub const SAY_GOODBYE: &str = "# say goodbye";
/// See [`CANCEL_AT_ONCE`].
pub const THEN_CLOSE: &str = "# then close it";

/// A model's Python program.
#[derive(Clone, Copy, Debug)]
pub struct Listing {
    /// The file name in `sim/python/`.
    pub file: &'static str,
    /// The program.
    pub source: &'static str,
}

impl Listing {
    /// The program for `model` whose handlers do `errors` with a client's
    /// error.
    pub fn of(model: ServerModel, errors: HandlerStyle) -> Listing {
        use HandlerStyle::{Handled, Unhandled};
        let (file, source) = match (model, errors) {
            (ServerModel::Blocking, Handled) => {
                ("blocking.py", include_str!("../python/blocking.py"))
            }
            (ServerModel::Blocking, Unhandled) => (
                "blocking_unhandled.py",
                include_str!("../python/blocking_unhandled.py"),
            ),
            (ServerModel::BusyPoll, Handled) => {
                ("busy_poll.py", include_str!("../python/busy_poll.py"))
            }
            (ServerModel::BusyPoll, Unhandled) => (
                "busy_poll_unhandled.py",
                include_str!("../python/busy_poll_unhandled.py"),
            ),
            (ServerModel::Selector, Handled) => {
                ("selector.py", include_str!("../python/selector.py"))
            }
            (ServerModel::Selector, Unhandled) => (
                "selector_unhandled.py",
                include_str!("../python/selector_unhandled.py"),
            ),
            (ServerModel::AsyncTasks, Handled) => {
                ("async_tasks.py", include_str!("../python/async_tasks.py"))
            }
            (ServerModel::AsyncTasks, Unhandled) => (
                "async_tasks_unhandled.py",
                include_str!("../python/async_tasks_unhandled.py"),
            ),
        };
        Listing { file, source }
    }

    /// Whether the program has a line containing `text`.
    pub fn has(&self, text: &str) -> bool {
        self.source.contains(text)
    }

    /// The 1-based number of the first line containing `anchor`.
    ///
    /// # Panics
    /// When no line contains it: a model and its program disagree, which
    /// the listing tests catch.
    pub fn line(&self, anchor: &str) -> u32 {
        self.lines_with(anchor)
            .next()
            .unwrap_or_else(|| panic!("{} has no line with {anchor:?}", self.file))
    }

    /// Every line containing `anchor`.
    pub fn lines_with<'a>(&'a self, anchor: &'a str) -> impl Iterator<Item = u32> + 'a {
        self.source
            .lines()
            .enumerate()
            .filter(move |(_, line)| line.contains(anchor))
            .map(|(index, _)| index as u32 + 1)
    }
}

/// What a listing's line a reported happening stands at, for a source
/// that does not report its lines (a live lab, or a run saved from one):
/// `accept()` returned at the accept line, a thread parked in `recv()` at
/// the recv line, a task suspended at its `await loop.sock_recv`, each
/// step of a shutdown at its comment. The simulator lights the same lines
/// as it steps (a test checks that the two agree); its finer steps (`if
/// not data:`) have no happening of their own, and a connection's close
/// keeps the line that closed it (the end of the data, an `except`, the
/// shutdown).
///
/// It follows a run's events in order: cancelling stands in the branch of
/// the shutdown policy in force, which the phase before it tells (the
/// grace period's end after draining, "cancel at once" right after the
/// listener closed, "then close it" after the goodbyes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HappeningLines {
    model: ServerModel,
    accept: Option<u32>,
    recv: Option<u32>,
    send: Option<u32>,
    select: Option<u32>,
    register: Option<u32>,
    modify_write: Option<u32>,
    modify_read: Option<u32>,
    create_task: Option<u32>,
    nobody_connecting: Option<u32>,
    would_block: Option<u32>,
    except: Option<u32>,
    stop_accepting: Option<u32>,
    grace_over: Option<u32>,
    cancel_at_once: Option<u32>,
    wait_for_everyone: Option<u32>,
    say_goodbye: Option<u32>,
    then_close: Option<u32>,
    shut_down: Option<u32>,
    /// The last shutdown phase seen, if a shutdown has begun.
    shutdown: Option<ShutdownPhase>,
}

impl HappeningLines {
    /// The lines of `model`'s program in the `errors` variant, found once.
    pub fn of(model: ServerModel, errors: HandlerStyle) -> Self {
        let listing = Listing::of(model, errors);
        let find = |anchor: &str| listing.lines_with(anchor).next();
        let (accept, recv, send) = match model {
            ServerModel::Blocking => (
                "server.accept()",
                "client.recv(4096)",
                "client.sendall(data)",
            ),
            ServerModel::BusyPoll | ServerModel::Selector => (
                "server.accept()",
                "client.recv(4096)",
                "client.send(pending[client])",
            ),
            ServerModel::AsyncTasks => (
                "loop.sock_accept(server)",
                "loop.sock_recv(client, 4096)",
                "loop.sock_sendall(client, data)",
            ),
        };
        HappeningLines {
            model,
            accept: find(accept),
            recv: find(recv),
            send: find(send),
            select: find("selector.select("),
            register: find("selector.register(client, selectors.EVENT_READ, receive)"),
            modify_write: find("selector.modify(client, selectors.EVENT_WRITE, send)"),
            modify_read: find("selector.modify(client, selectors.EVENT_READ, receive)"),
            create_task: find("loop.create_task(handle(loop, client))"),
            nobody_connecting: find("would block: nobody is connecting"),
            would_block: find("would block: no bytes yet"),
            except: find("except ConnectionError"),
            stop_accepting: find(STOP_ACCEPTING),
            grace_over: find(GRACE_OVER),
            cancel_at_once: find(CANCEL_AT_ONCE),
            wait_for_everyone: find(WAIT_FOR_EVERYONE),
            say_goodbye: find(SAY_GOODBYE),
            then_close: find(THEN_CLOSE),
            shut_down: find(SHUT_DOWN),
            shutdown: None,
        }
    }

    /// The line `kind`, the next event of the run, happens at, if it
    /// stands at one.
    pub fn line(&mut self, kind: &EventKind) -> Option<u32> {
        let asyncio = self.model == ServerModel::AsyncTasks;
        match kind {
            EventKind::Accepted { .. } => self.accept,
            EventKind::TaskSpawned { conn: Some(_), .. } => self.create_task,
            EventKind::CallBlocked { call, .. } => match call {
                Call::Accept => self.accept,
                Call::Recv => self.recv,
                Call::Send => self.send,
            },
            EventKind::TaskWaiting { sock, op, .. } if asyncio => match (sock, op) {
                (Sock::Listener, _) => self.accept,
                (_, IoOp::Read) => self.recv,
                (_, IoOp::Write) => self.send,
            },
            EventKind::Received { .. } => self.recv,
            EventKind::Sent { .. } => self.send,
            EventKind::WouldBlock {
                sock: Sock::Listener,
                ..
            } => self.nobody_connecting,
            EventKind::WouldBlock { .. } => self.would_block,
            EventKind::SelectCalled { .. } if !asyncio => self.select,
            EventKind::Registered {
                sock: Sock::Conn(_),
                op,
                modify,
            } => match (modify, op) {
                (false, _) => self.register,
                (true, IoOp::Write) => self.modify_write,
                (true, IoOp::Read) => self.modify_read,
            },
            EventKind::ErrorHandled { .. } => self.except,
            // An error nothing caught stands where it was raised.
            EventKind::ServerCrashed {
                call: Some(call), ..
            } => match call {
                Call::Accept => self.accept,
                Call::Recv => self.recv,
                Call::Send => self.send,
            },
            EventKind::Shutdown { phase } => {
                let before = self.shutdown.replace(*phase);
                match phase {
                    ShutdownPhase::StopAccepting => self.stop_accepting,
                    ShutdownPhase::Cancelling => match before {
                        Some(ShutdownPhase::StopAccepting) => self.cancel_at_once,
                        Some(ShutdownPhase::Notifying) => self.then_close,
                        _ => self.grace_over,
                    },
                    ShutdownPhase::WaitingForEveryone => self.wait_for_everyone,
                    ShutdownPhase::Notifying => self.say_goodbye,
                    ShutdownPhase::Stopped => self.shut_down,
                    ShutdownPhase::Draining { .. } => None,
                }
            }
            // A server (re)starts: no shutdown under way.
            EventKind::Listening { .. } => {
                self.shutdown = None;
                None
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each step of asyncio's shutdown, in each policy's branch, has one
    /// line of its own in both variants, and the goodbye line the program
    /// sends is the one the clients listen for.
    #[test]
    fn asyncio_listings_have_one_line_per_shutdown_step_and_the_protocols_goodbye() {
        for errors in [HandlerStyle::Handled, HandlerStyle::Unhandled] {
            let listing = Listing::of(ServerModel::AsyncTasks, errors);
            for anchor in [
                STOP_ACCEPTING,
                GRACE_OVER,
                CANCEL_AT_ONCE,
                WAIT_FOR_EVERYONE,
                SAY_GOODBYE,
                THEN_CLOSE,
                SHUT_DOWN,
            ] {
                assert_eq!(
                    listing.lines_with(anchor).count(),
                    1,
                    "{}: {anchor:?}",
                    listing.file
                );
            }
            let goodbye = String::from_utf8(protocol::GOODBYE.to_vec())
                .unwrap()
                .replace('\n', "\\n");
            assert!(
                listing.has(&format!("GOODBYE = b\"{goodbye}\"")),
                "{}",
                listing.file
            );
            for policy in protocol::ShutdownPolicy::ALL {
                assert!(
                    listing.has(&format!("policy == \"{}\"", policy.as_str())),
                    "{}: {policy:?}",
                    listing.file
                );
            }
        }
    }
}
