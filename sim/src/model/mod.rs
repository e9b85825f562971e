//! The four server models. Each is a state machine that performs one step of
//! its Python program at a time (a socket call, a callback, a task's run) on
//! the virtual network, reports it as events, and tells the engine how long
//! the step kept the CPU busy or what it now waits for.

mod blocking;
mod busy_poll;
mod selector;
mod tasks;

use protocol::{ConnId, Event, EventKind, HandlerStyle, Micros, ServerModel};

use crate::listing::Listing;
use crate::net::Net;

/// What the server thread does after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// It keeps the CPU for this long, then steps again.
    Busy(Micros),
    /// It sleeps until a socket it registered is ready, or the timeout
    /// passes (no CPU used meanwhile).
    Block {
        /// Longest sleep, if any.
        timeout: Option<Micros>,
    },
    /// It has exited.
    Stopped,
}

/// What a step costs the CPU, in microseconds of a Python program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Costs {
    /// One socket call (`accept`, `recv`, `send`) with Python's overhead.
    pub syscall: Micros,
    /// One `select()` call.
    pub select: Micros,
    /// Handling one ready socket (finding its callback or task).
    pub per_ready: Micros,
    /// Switching to a task (resuming a coroutine).
    pub resume: Micros,
}

impl Default for Costs {
    fn default() -> Self {
        Costs {
            syscall: 5,
            select: 10,
            per_ready: 2,
            resume: 3,
        }
    }
}

/// What a model's step works with.
pub struct Cx<'a> {
    /// The virtual time of the step.
    pub now: Micros,
    /// The network.
    pub net: &'a mut Net,
    /// Where events go.
    pub events: &'a mut Vec<Event>,
    /// What handlers do with errors.
    pub style: HandlerStyle,
    /// The price list.
    pub costs: Costs,
    /// Whether a shutdown has begun.
    pub stopping: bool,
    /// When a shutdown's grace period ends, until it has: the one timer a
    /// loop waits for (`asyncio.wait(tasks, timeout=grace)`).
    pub deadline: Option<Micros>,
}

impl Cx<'_> {
    /// Reports something happening now.
    pub fn emit(&mut self, kind: EventKind) {
        self.events.push(Event { at: self.now, kind });
    }

    /// Reports an accepted connection (the engine reports the backlog).
    pub fn accepted(&mut self, conn: ConnId, client: usize) {
        self.emit(EventKind::Accepted {
            conn,
            peer: format!("client#{client}"),
        });
    }

    /// Closes a connection from the server's side and reports it.
    pub fn close(&mut self, conn: ConnId) {
        self.net.close(conn);
        self.emit(EventKind::Closed { conn });
    }

    /// The server dies of `error`: every socket is reset.
    pub fn crash(&mut self, error: &str) -> Next {
        self.emit(EventKind::ServerCrashed {
            error: error.to_owned(),
            call: None,
        });
        for conn in self.net.open_connections() {
            self.emit(EventKind::Closed { conn });
        }
        self.net.crash();
        Next::Stopped
    }
}

/// Tracks the program's current line and reports each change.
#[derive(Debug)]
pub struct Lines {
    listing: Listing,
    current: u32,
}

impl Lines {
    /// Lines of `model`'s program, in the variant whose handlers do
    /// `errors` with a client's error.
    pub fn new(model: ServerModel, errors: HandlerStyle) -> Self {
        Lines {
            listing: Listing::of(model, errors),
            current: 0,
        }
    }

    /// The number of the line with `anchor`, if the program has one (the
    /// `except` lines are only in the handled variants).
    pub fn find_if_any(&self, anchor: &str) -> Option<u32> {
        self.listing.lines_with(anchor).next()
    }

    /// The number of the line with `anchor` (resolved once, at start).
    pub fn find(&self, anchor: &str) -> u32 {
        self.listing.line(anchor)
    }

    /// Every line with `anchor`, in order.
    pub fn find_all(&self, anchor: &str) -> Vec<u32> {
        self.listing.lines_with(anchor).collect()
    }

    /// Moves to the first line with `anchor`, if the program has one.
    pub fn at_anchor(&mut self, cx: &mut Cx, anchor: &str) {
        if let Some(line) = self.find_if_any(anchor) {
            self.at(cx, line);
        }
    }

    /// Moves to `line`, reporting it if it changed.
    pub fn at(&mut self, cx: &mut Cx, line: u32) {
        if line != self.current {
            self.current = line;
            cx.emit(EventKind::CodeLine { line });
        }
    }
}

/// A server model.
pub trait Model {
    /// The lines of its program, to light the shutdown's.
    fn lines(&mut self) -> &mut Lines;
    /// Performs the next step.
    fn step(&mut self, cx: &mut Cx) -> Next;
    /// A shutdown began: the listener is already closed; stop accepting.
    fn stop_accepting(&mut self, cx: &mut Cx);
    /// The grace period is over (or the policy gives none): end whatever
    /// still runs.
    fn cancel_the_rest(&mut self, cx: &mut Cx);
    /// Writes the goodbye line ([`protocol::GOODBYE`]) to every connection
    /// still open, without waiting for room. Only a model whose program
    /// offers the policies is asked
    /// ([`ServerModel::offers_shutdown_policies`]).
    fn say_goodbye(&mut self, _cx: &mut Cx) {}
}

/// The model for `kind`, ready for its first step.
pub fn new_model(kind: ServerModel, cx: &mut Cx) -> Box<dyn Model> {
    match kind {
        ServerModel::Blocking => Box::new(blocking::Blocking::new(cx)),
        ServerModel::BusyPoll => Box::new(busy_poll::BusyPoll::new(cx)),
        ServerModel::Selector => Box::new(selector::Selector::new(cx)),
        ServerModel::AsyncTasks => Box::new(tasks::Tasks::new(cx)),
    }
}
