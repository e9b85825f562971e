//! The `World`: the state every view shows, reduced from [`protocol`] events.
//!
//! Sources (a live lab, the simulator, a saved run) feed it through the
//! [`Recording`](crate::model::recording::Recording), which keeps the events and
//! snapshots of the world for seeking; the world is mutated in place, cloned
//! only for a snapshot, and the views read it once per animation frame.
//! What the log says about each event is [`wording`], apart from the state,
//! so the log costs the world nothing and a snapshot holds no text. Pure
//! Rust: no DOM, no clock, tested natively below.

pub mod kept;
pub mod lanes;
pub mod wording;

use kept::Kept;
use loopscope_sim::HappeningLines;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::model::latency::Latencies;

use protocol::{
    Call, ClientId, ConnId, Event, EventKind, HandlerStyle, Hello, IoOp, LoopPhase, Micros,
    ServerMessage, ServerModel, ShutdownPhase, ShutdownPolicy, Sock, TaskId, TaskOutcome,
};

/// Closed connections kept in the table; older ones are forgotten.
pub const CLOSED_CONNECTIONS_KEPT: usize = 200;
/// State changes kept per lane; older ones scroll out of the history.
pub const SPANS_KEPT: usize = 256;
/// Would-block marks kept per lane.
pub const MARKS_KEPT: usize = 256;
/// Lanes shown for connections waiting in the listen backlog, at most.
pub const BACKLOG_LANES: u64 = 4096;
/// Closed sockets kept in the selector table.
pub const CLOSED_SOCKETS_KEPT: usize = 20;

/// Where a connection (and the task serving it) is: what its lane shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Connected, but waiting in the listen backlog: not accepted yet.
    Backlog,
    /// Accepted; no task serves it yet.
    Accepted,
    /// Its task is ready to run (woken, or in the last select's ready set).
    Ready,
    /// Its task runs, or its callback does.
    Running,
    /// Its task is suspended until the socket is ready for the operation.
    Waiting(IoOp),
    /// It is registered with the selector for the operation and waits in
    /// `select()` like every other.
    Registered(IoOp),
    /// The busy-poll loop tries it over and over and finds nothing.
    Polling,
    /// The server's one thread is parked in this blocking call on it.
    Blocked(Call),
    /// Its task ended.
    Finished(TaskOutcome),
    /// The server closed it (no task outcome to tell).
    Closed,
}

impl TaskState {
    /// Whether nothing more will happen on this lane.
    pub fn is_final(&self) -> bool {
        matches!(self, TaskState::Finished(_) | TaskState::Closed)
    }
}

/// A stretch of a lane's time in one state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// When it began.
    pub from: Micros,
    /// When it ended.
    pub to: Micros,
    /// The state.
    pub state: TaskState,
}

/// One connection, the task that serves it, and its history: a row of the
/// lanes view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The connection.
    pub conn: ConnId,
    /// Its peer, as the server saw it (empty while in the backlog).
    pub peer: String,
    /// The task serving it.
    pub task: Option<TaskId>,
    /// What the task is doing.
    pub state: TaskState,
    /// Since when.
    pub since: Micros,
    /// The earlier states, oldest first; the newest [`SPANS_KEPT`].
    pub history: Kept<Span>,
    /// When a non-blocking try on it found nothing; the newest
    /// [`MARKS_KEPT`].
    pub would_blocks: Kept<Micros>,
    /// Bytes the server read from it.
    pub bytes_in: u64,
    /// Bytes the server wrote back.
    pub bytes_out: u64,
    /// When the server first wrote back to it (its first echo).
    pub first_echo: Option<Micros>,
}

impl Connection {
    fn new(conn: ConnId, state: TaskState, since: Micros) -> Self {
        Connection {
            conn,
            peer: String::new(),
            task: None,
            state,
            since,
            history: Kept::new(SPANS_KEPT),
            would_blocks: Kept::new(MARKS_KEPT),
            bytes_in: 0,
            bytes_out: 0,
            first_echo: None,
        }
    }

    /// The server wrote `bytes` back at `at`.
    fn wrote(&mut self, bytes: u64, at: Micros) {
        self.bytes_out = self.bytes_out.saturating_add(bytes);
        if bytes > 0 && self.first_echo.is_none() {
            self.first_echo = Some(at);
        }
    }

    /// Moves to `state` at `at`, keeping the state it leaves as a span.
    /// A final state stays: a finished task's socket closing says nothing new.
    fn enter(&mut self, state: TaskState, at: Micros) {
        if self.state == state || (self.state.is_final() && state == TaskState::Closed) {
            return;
        }
        let left = std::mem::replace(&mut self.state, state);
        self.history.push_back(Span {
            from: self.since,
            to: at,
            state: left,
        });
        self.since = at;
    }

    fn would_block(&mut self, at: Micros) {
        if self.would_blocks.back() == Some(&at) {
            return;
        }
        self.would_blocks.push_back(at);
    }
}

/// The numbers at the top of the page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Connections accepted in this lab.
    pub accepted: u64,
    /// Connections open now.
    pub open: u64,
    /// Bytes the server wrote back.
    pub bytes_echoed: u64,
    /// Clients started by the lab.
    pub clients_started: u64,
    /// Clients that ended, well or not.
    pub clients_finished: u64,
    /// Clients that read the server's goodbye line before the end.
    pub told_goodbye: u64,
    /// Errors no handler caught: tasks that ended with one, and the error
    /// that killed the server.
    pub errors_unhandled: u64,
    /// Events lost because the browser read too slowly.
    pub dropped_events: u64,
    /// Errors a handler caught and survived.
    pub errors_handled: u64,
    /// Non-blocking calls that found nothing to do.
    pub would_block: u64,
    /// Iterations of the server's loop.
    pub iterations: u64,
    /// Connections waiting in the listen backlog.
    pub backlog: u32,
    /// How busy the server's thread was in the last window, in ‰.
    pub cpu_permille: Option<u32>,
}

/// One row of the selector table: a socket as the server's selector sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketRow {
    /// The socket.
    pub sock: Sock,
    /// What it is registered for, if it is.
    pub interest: Option<IoOp>,
    /// Whether the last `select()` reported it ready.
    pub ready: bool,
    /// Whether it is closed.
    pub closed: bool,
    /// Bytes received and not yet read by the server.
    pub recv_queue: u64,
    /// Bytes written by the server and not yet taken by the peer.
    pub send_queue: u64,
}

/// Everything the views show.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct World {
    /// The lab being watched, once its hello came.
    pub lab: Option<Hello>,
    /// Connections by id, oldest first.
    pub connections: BTreeMap<ConnId, Connection>,
    /// The counters.
    pub counters: Counters,
    /// The time of the newest event.
    pub now: Micros,
    /// The line of the server's listing it is at, as the server reports
    /// it (the simulator does).
    pub code_line: Option<u32>,
    /// The line the last happening stands at, for a server that reports
    /// no lines (a live lab): see [`World::lit_line`].
    derived_line: Option<u32>,
    /// The lines happenings stand at in the program running now.
    happening_lines: Option<HappeningLines>,
    /// The event loop's current phase.
    pub phase: Option<LoopPhase>,
    /// How far a shutdown has got.
    pub shutdown: Option<ShutdownPhase>,
    /// The policy the shutdown runs under, as its phases tell it (see
    /// [`policy_told_by`]); `None` before a shutdown, and in the instant
    /// between `stop accepting` and the phase that tells it.
    pub shutdown_policy: Option<ShutdownPolicy>,
    /// When a shutdown's grace period ends (or ended).
    pub deadline: Option<Micros>,
    /// When the shutdown began (the listener closed).
    pub shutdown_began: Option<Micros>,
    /// The error that killed the server, if one did.
    pub crashed: Option<String>,
    /// The model the server runs (from the hello, then each `listening`).
    pub model: Option<ServerModel>,
    /// What its handlers do with a client's error: which variant of the
    /// model's program runs (from each `listening`).
    pub errors: HandlerStyle,
    /// Whether the live server's loop is paused.
    pub paused: bool,
    /// The sockets as the selector sees them, listener first.
    pub sockets: BTreeMap<Sock, SocketRow>,
    /// The blocking call the server's one thread is parked in, if any.
    pub parked: Option<(Call, Sock)>,
    /// The clients' echo round trips.
    pub latencies: Latencies,
    /// The number of the newest client seen so far (0: none).
    newest_client: u64,
    /// The number of this run's first client: the finish and round trips
    /// of an earlier one (a run before a restart) are not counted.
    first_client: u64,
    /// Whether the next `listening` begins a fresh run.
    fresh_run_pending: bool,
    task_conns: HashMap<TaskId, ConnId>,
    last_accepted: u64,
    task_waits: HashMap<TaskId, Sock>,
    closed_order: VecDeque<ConnId>,
}

impl World {
    /// Applies one frame from a source. A hello starts a new lab, so it
    /// forgets the old one.
    pub fn apply_message(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Hello(hello) => {
                *self = World {
                    lab: Some(hello),
                    ..World::default()
                };
            }
            ServerMessage::Events { events } => {
                for event in &events {
                    self.apply(event);
                }
            }
        }
    }

    /// Makes the server's next start (its `listening`, say after a
    /// `set_model`) begin a fresh run: connections, sockets, lanes, counters
    /// and latencies start from nothing; the lab and the model stay. What the old run's clients report afterwards is not counted.
    pub fn begin_fresh_run(&mut self) {
        self.fresh_run_pending = true;
    }

    /// Whether a fresh run was asked for and its server has not said it
    /// listens yet.
    pub fn awaiting_fresh_run(&self) -> bool {
        self.fresh_run_pending
    }

    /// Applies one event.
    pub fn apply(&mut self, event: &Event) {
        if self.fresh_run_pending && matches!(event.kind, EventKind::Listening { .. }) {
            *self = World {
                lab: self.lab.take(),
                model: self.model,
                newest_client: self.newest_client,
                first_client: self.newest_client + 1,
                ..World::default()
            };
        }
        if let EventKind::ClientStarted { client, .. }
        | EventKind::ClientFinished { client, .. }
        | EventKind::RoundTrip { client, .. } = event.kind
        {
            self.newest_client = self.newest_client.max(client.0);
        }
        self.now = self.now.max(event.at);
        self.count(&event.kind);
        self.track_connection(&event.kind);
        self.track_server(&event.kind);
    }

    /// The line of the listing to light: the one the server reports, or,
    /// from a server that reports none, the one its last happening stands
    /// at (the same lines the simulator lights for the same happenings).
    pub fn lit_line(&self) -> Option<u32> {
        self.code_line.or(self.derived_line)
    }

    /// The connection `task` serves, while the world keeps it.
    pub fn conn_of_task(&self, task: TaskId) -> Option<ConnId> {
        self.task_conns.get(&task).copied()
    }

    /// The grace period the shutdown gave, from its start to its deadline;
    /// `None` when it gives none (its policy has no deadline) or none began.
    pub fn grace(&self) -> Option<Micros> {
        let began = self.shutdown_began?;
        (self.shutdown_policy == Some(ShutdownPolicy::GraceThenCancel))
            .then(|| self.deadline.map(|deadline| deadline.saturating_sub(began)))
            .flatten()
    }

    /// Roughly how many bytes the world holds: what a snapshot of it costs.
    pub fn weight(&self) -> usize {
        use std::mem::size_of;
        let lanes: usize = self
            .connections
            .values()
            .map(|connection| {
                size_of::<Connection>()
                    + connection.peer.len()
                    + connection.history.weight()
                    + connection.would_blocks.weight()
            })
            .sum();
        size_of::<World>()
            + lanes
            + self.sockets.len() * size_of::<SocketRow>()
            + (self.task_conns.len() + self.task_waits.len()) * 32
            + self.closed_order.len() * size_of::<ConnId>()
            + self.latencies.weight()
    }

    fn track_server(&mut self, kind: &EventKind) {
        self.track_sockets(kind);
        if self.code_line.is_none()
            && let Some(line) = self
                .happening_lines
                .as_mut()
                .and_then(|lines| lines.line(kind))
        {
            self.derived_line = Some(line);
        }
        match kind {
            EventKind::CallBlocked { call, sock } => self.parked = Some((*call, *sock)),
            EventKind::CallReturned { .. } => self.parked = None,
            EventKind::CodeLine { line } => self.code_line = Some(*line),
            EventKind::Phase { phase } => self.phase = Some(*phase),
            EventKind::Shutdown { phase } => {
                match phase {
                    ShutdownPhase::StopAccepting => self.shutdown_began = Some(self.now),
                    ShutdownPhase::Draining { deadline } => self.deadline = Some(*deadline),
                    _ => {}
                }
                self.shutdown_policy = policy_told_by(self.shutdown_policy, *phase);
                self.shutdown = Some(*phase);
            }
            // The server is dead: no loop, no call, no socket it listens
            // on or watches; what it served lost it.
            EventKind::ServerCrashed { error, .. } => {
                self.crashed = Some(error.clone());
                self.parked = None;
                self.phase = None;
                self.paused = false;
                for row in self.sockets.values_mut() {
                    row.closed = true;
                    row.interest = None;
                    row.ready = false;
                }
                let now = self.now;
                let lost = TaskState::Finished(TaskOutcome::Failed {
                    error: format!("the server crashed: {error}"),
                });
                for connection in self.connections.values_mut() {
                    if !connection.state.is_final() {
                        connection.enter(lost.clone(), now);
                    }
                }
            }
            // A server (re)starts: whatever ended the last one is over.
            EventKind::Listening { model, errors, .. } => {
                self.model = Some(*model);
                self.errors = *errors;
                self.happening_lines = Some(HappeningLines::of(*model, *errors));
                self.derived_line = None;
                self.paused = false;
                self.crashed = None;
                self.shutdown = None;
                self.shutdown_policy = None;
                self.deadline = None;
                self.shutdown_began = None;
                self.phase = None;
                self.parked = None;
            }
            EventKind::Stepping { paused } => self.paused = *paused,
            EventKind::RoundTrip { client, latency_us } if self.counts_client(*client) => {
                self.latencies.record(*latency_us);
            }
            _ => {}
        }
    }

    fn track_sockets(&mut self, kind: &EventKind) {
        let row = |sock| SocketRow {
            sock,
            interest: None,
            ready: false,
            closed: false,
            recv_queue: 0,
            send_queue: 0,
        };
        match kind {
            EventKind::Listening { .. } => {
                self.sockets.clear();
                self.sockets.insert(Sock::Listener, row(Sock::Listener));
            }
            EventKind::Accepted { conn, .. } => {
                self.sockets
                    .insert(Sock::Conn(*conn), row(Sock::Conn(*conn)));
            }
            EventKind::Registered { sock, op, .. } => {
                self.sockets
                    .entry(*sock)
                    .or_insert_with(|| row(*sock))
                    .interest = Some(*op);
            }
            // asyncio registers a socket when a task awaits it (add_reader /
            // add_writer) and removes it when it wakes the task.
            EventKind::TaskWaiting { task, sock, op } => {
                self.sockets
                    .entry(*sock)
                    .or_insert_with(|| row(*sock))
                    .interest = Some(*op);
                self.task_waits.insert(*task, *sock);
            }
            EventKind::TaskWoken { task } => {
                if let Some(sock) = self.task_waits.remove(task)
                    && let Some(row) = self.sockets.get_mut(&sock)
                {
                    row.interest = None;
                }
            }
            EventKind::Buffered {
                conn,
                recv_queue,
                send_queue,
            } => {
                if let Some(row) = self.sockets.get_mut(&Sock::Conn(*conn))
                    && !row.closed
                {
                    row.recv_queue = *recv_queue;
                    row.send_queue = *send_queue;
                }
            }
            EventKind::Unregistered { sock } => {
                if let Some(row) = self.sockets.get_mut(sock) {
                    row.interest = None;
                    row.ready = false;
                }
            }
            EventKind::SelectReturned { ready } => {
                // A set only for a large ready set (a file may hold one of
                // thousands); a small one is searched as it is.
                let large: Option<HashSet<Sock>> =
                    (ready.len() > 16).then(|| ready.iter().map(|entry| entry.sock).collect());
                for row in self.sockets.values_mut() {
                    row.ready = match &large {
                        Some(ready) => ready.contains(&row.sock),
                        None => ready.iter().any(|entry| entry.sock == row.sock),
                    };
                }
            }
            EventKind::Closed { conn } => {
                let closed = Sock::Conn(*conn);
                if let Some(existing) = self.sockets.get_mut(&closed) {
                    *existing = SocketRow {
                        closed: true,
                        ..row(closed)
                    };
                }
                // Keep the table to the open sockets and the newest closed.
                let closed_rows: Vec<Sock> = self
                    .sockets
                    .values()
                    .filter(|row| row.closed)
                    .map(|row| row.sock)
                    .collect();
                for sock in closed_rows
                    .iter()
                    .take(closed_rows.len().saturating_sub(CLOSED_SOCKETS_KEPT))
                {
                    self.sockets.remove(sock);
                }
            }
            EventKind::Shutdown {
                phase: ShutdownPhase::StopAccepting,
            } => {
                if let Some(row) = self.sockets.get_mut(&Sock::Listener) {
                    row.closed = true;
                    row.interest = None;
                }
            }
            _ => {}
        }
    }

    /// Whether `client` started in this run (rather than in one before).
    fn counts_client(&self, client: ClientId) -> bool {
        client.0 >= self.first_client
    }

    fn count(&mut self, kind: &EventKind) {
        let this_run = match kind {
            EventKind::ClientFinished { client, .. } => self.counts_client(*client),
            _ => true,
        };
        let counters = &mut self.counters;
        match kind {
            EventKind::Accepted { .. } => {
                counters.accepted += 1;
                counters.open += 1;
            }
            EventKind::Closed { .. } => counters.open = counters.open.saturating_sub(1),
            EventKind::Sent { bytes, .. } => {
                counters.bytes_echoed = counters.bytes_echoed.saturating_add(*bytes)
            }
            EventKind::Traffic { sent, .. } => {
                counters.bytes_echoed = counters.bytes_echoed.saturating_add(*sent)
            }
            EventKind::ClientStarted { .. } => counters.clients_started += 1,
            EventKind::ClientFinished { told_goodbye, .. } if this_run => {
                counters.clients_finished += 1;
                counters.told_goodbye += u64::from(*told_goodbye);
            }
            EventKind::TaskFinished {
                outcome: TaskOutcome::Failed { .. },
                ..
            } => counters.errors_unhandled += 1,
            EventKind::ServerCrashed { .. } => counters.errors_unhandled += 1,
            EventKind::Dropped { count } => {
                counters.dropped_events = counters.dropped_events.saturating_add(*count)
            }
            EventKind::ErrorHandled { .. } => counters.errors_handled += 1,
            EventKind::WouldBlock { .. } => counters.would_block += 1,
            EventKind::LoopIteration { .. } => counters.iterations += 1,
            EventKind::Spins {
                iterations,
                would_block,
            } => {
                counters.iterations = counters.iterations.saturating_add(*iterations);
                counters.would_block = counters.would_block.saturating_add(*would_block);
            }
            EventKind::Backlog { waiting } => counters.backlog = *waiting,
            EventKind::Cpu { busy_us, window_us } if *window_us > 0 => {
                let permille = busy_us.saturating_mul(1000) / window_us;
                counters.cpu_permille = Some(u32::try_from(permille).unwrap_or(u32::MAX));
            }
            _ => {}
        }
    }

    fn track_connection(&mut self, kind: &EventKind) {
        let now = self.now;
        match kind {
            EventKind::Accepted { conn, peer } => {
                self.last_accepted = self.last_accepted.max(conn.0);
                let connection = self
                    .connections
                    .entry(*conn)
                    .or_insert_with(|| Connection::new(*conn, TaskState::Accepted, now));
                connection.peer = peer.clone();
                // The busy-poll loop polls a socket from the moment it has it.
                let state = if self.model == Some(ServerModel::BusyPoll) {
                    TaskState::Polling
                } else {
                    TaskState::Accepted
                };
                connection.enter(state, now);
                self.track_backlog();
            }
            EventKind::Backlog { .. } => self.track_backlog(),
            EventKind::TaskSpawned {
                task,
                conn: Some(conn),
            } => {
                self.task_conns.insert(*task, *conn);
                if let Some(connection) = self.connections.get_mut(conn) {
                    connection.task = Some(*task);
                    connection.enter(TaskState::Ready, now);
                }
            }
            EventKind::TaskWaiting {
                sock: Sock::Conn(conn),
                op,
                ..
            } => self.set_state(*conn, TaskState::Waiting(*op)),
            EventKind::TaskResumed { task } => self.set_task_state(*task, TaskState::Running),
            EventKind::TaskWoken { task } => self.set_task_state(*task, TaskState::Ready),
            EventKind::CallBlocked {
                call,
                sock: Sock::Conn(conn),
            } => self.set_state(*conn, TaskState::Blocked(*call)),
            EventKind::CallReturned {
                sock: Sock::Conn(conn),
                ..
            } => self.set_state(*conn, TaskState::Running),
            EventKind::Registered {
                sock: Sock::Conn(conn),
                op,
                ..
            } => self.set_state(*conn, TaskState::Registered(*op)),
            EventKind::SelectReturned { ready } => {
                for entry in ready {
                    if let Sock::Conn(conn) = entry.sock {
                        self.set_state(conn, TaskState::Ready);
                    }
                }
            }
            // Back in select(): each socket its callback served waits again
            // for what it is registered for.
            EventKind::SelectCalled { .. } if self.model == Some(ServerModel::Selector) => {
                for connection in self.connections.values_mut() {
                    if matches!(connection.state, TaskState::Ready | TaskState::Running)
                        && let Some(op) = self
                            .sockets
                            .get(&Sock::Conn(connection.conn))
                            .and_then(|row| row.interest)
                    {
                        connection.enter(TaskState::Registered(op), now);
                    }
                }
            }
            EventKind::WouldBlock {
                sock: Sock::Conn(conn),
                ..
            } => {
                if let Some(connection) = self.connections.get_mut(conn) {
                    connection.would_block(now);
                    if !connection.state.is_final() {
                        connection.enter(TaskState::Polling, now);
                    }
                }
            }
            EventKind::Received { conn, bytes } => {
                if let Some(connection) = self.connections.get_mut(conn) {
                    connection.bytes_in = connection.bytes_in.saturating_add(*bytes);
                    if !connection.state.is_final() {
                        connection.enter(TaskState::Running, now);
                    }
                }
            }
            EventKind::Sent { conn, bytes } => {
                if let Some(connection) = self.connections.get_mut(conn) {
                    connection.wrote(*bytes, now);
                }
            }
            EventKind::Traffic {
                conn,
                received,
                sent,
                ..
            } => {
                if let Some(connection) = self.connections.get_mut(conn) {
                    connection.bytes_in = connection.bytes_in.saturating_add(*received);
                    connection.wrote(*sent, now);
                }
            }
            // The task stays mapped to its connection for as long as the
            // connection is kept: asyncio reports a task's unretrieved error
            // later, and the log files that under the connection too.
            EventKind::TaskFinished {
                conn: Some(conn),
                outcome,
                ..
            } => self.set_state(*conn, TaskState::Finished(outcome.clone())),
            EventKind::Closed { conn } => {
                if let Some(connection) = self.connections.get_mut(conn) {
                    connection.enter(TaskState::Closed, now);
                    self.closed_order.push_back(*conn);
                }
                while self.closed_order.len() > CLOSED_CONNECTIONS_KEPT {
                    if let Some(oldest) = self.closed_order.pop_front()
                        && let Some(task) = self
                            .connections
                            .remove(&oldest)
                            .and_then(|connection| connection.task)
                    {
                        self.task_conns.remove(&task);
                    }
                }
            }
            _ => {}
        }
    }

    /// Keeps a lane for each connection in the listen backlog. Connections
    /// are numbered in accept order, so the `waiting` ones are the next
    /// numbers after the last accepted.
    fn track_backlog(&mut self) {
        // A backlog lane per waiting connection, up to what a listener
        // queues (a file may claim billions; the counter still says so).
        let waiting = u64::from(self.counters.backlog).min(BACKLOG_LANES);
        let first = self.last_accepted.saturating_add(1);
        let end = first.saturating_add(waiting);
        for id in first..end {
            self.connections
                .entry(ConnId(id))
                .or_insert_with(|| Connection::new(ConnId(id), TaskState::Backlog, self.now));
        }
        // Those that left the queue without being accepted (a shutdown
        // resets them) are gone. Only numbers past the queue can be such;
        // looking at those alone keeps this cheap with thousands of lanes.
        let gone: Vec<ConnId> = self
            .connections
            .range(ConnId(end)..)
            .filter(|(_, connection)| connection.state == TaskState::Backlog)
            .map(|(conn, _)| *conn)
            .collect();
        for conn in gone {
            self.connections.remove(&conn);
        }
    }

    fn set_task_state(&mut self, task: TaskId, state: TaskState) {
        if let Some(conn) = self.task_conns.get(&task).copied() {
            self.set_state(conn, state);
        }
    }

    fn set_state(&mut self, conn: ConnId, state: TaskState) {
        let now = self.now;
        if let Some(connection) = self.connections.get_mut(&conn)
            && !matches!(connection.state, TaskState::Finished(_))
        {
            connection.enter(state, now);
        }
    }
}

/// The shutdown policy known once `phase` follows a shutdown known to run
/// under `known` (if it is known yet). The events carry no policy (the
/// protocol needs none: every server, live or simulated, says its
/// phases), but the phase after `stop accepting` tells it, as the lines
/// the listing lights do ([`HappeningLines`]): a grace period is draining,
/// waiting for everyone and notifying are their own policies, and
/// cancelling straight after the listener closed is cancelling at once
/// (after draining or notifying it is the end of those).
pub fn policy_told_by(
    known: Option<ShutdownPolicy>,
    phase: ShutdownPhase,
) -> Option<ShutdownPolicy> {
    match phase {
        // A new shutdown: nothing told yet.
        ShutdownPhase::StopAccepting => None,
        ShutdownPhase::Draining { .. } => Some(ShutdownPolicy::GraceThenCancel),
        ShutdownPhase::WaitingForEveryone => Some(ShutdownPolicy::WaitForEveryone),
        ShutdownPhase::Notifying => Some(ShutdownPolicy::NotifyFirst),
        ShutdownPhase::Cancelling => known.or(Some(ShutdownPolicy::CancelAtOnce)),
        ShutdownPhase::Stopped => known,
    }
}

#[cfg(test)]
mod tests;
