//! The engine: a discrete-event simulation on a virtual clock.
//!
//! Actors (the server thread, each client) run at scheduled times. A run
//! changes the network; the engine then wakes whoever waits on a socket that
//! became ready. The server's CPU time is what its steps cost; when it
//! sleeps in a blocking call or in `select()`, it uses none. Everything is
//! ordered by (time, sequence number), so a scenario and a seed give the same
//! events, byte for byte, on every platform.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use protocol::{ClientId, Event, EventKind, Micros, ShutdownPhase, ShutdownPolicy};

use crate::client::{Client, ClientNext};
use crate::listing::{
    CANCEL_AT_ONCE, GRACE_OVER, SAY_GOODBYE, SHUT_DOWN, STOP_ACCEPTING, THEN_CLOSE,
    WAIT_FOR_EVERYONE,
};
use crate::model::{Cx, Model, Next, new_model};
use crate::net::Net;
use crate::scenario::{ClientSpec, Scenario};

/// How often the engine reports the server's CPU use.
pub const CPU_WINDOW: Micros = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Wake {
    /// The server thread, if its `generation` is still current.
    Server { generation: u64 },
    /// A client, if its `generation` is still current.
    Client { index: usize, generation: u64 },
    /// The end of a shutdown's grace period.
    Deadline,
    /// Time to report CPU use.
    CpuTick,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerState {
    /// Scheduled to step (or stepping).
    Running,
    /// Sleeping until a registered socket is ready (or its timeout).
    Sleeping,
    Stopped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientWait {
    Nothing,
    Readable,
    Writable,
}

/// Totals over a whole run, for tests and the comparison table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Virtual microseconds the server's thread used the CPU.
    pub busy: Micros,
    /// Non-blocking calls that would have blocked.
    pub would_block: u64,
    /// Iterations of the server's loop.
    pub iterations: u64,
    /// Events produced.
    pub events: u64,
}

/// A running simulation.
pub struct Simulation {
    scenario: Scenario,
    now: Micros,
    sequence: u64,
    queue: BinaryHeap<Reverse<(Micros, u64, Wake)>>,
    net: Net,
    model: Box<dyn Model>,
    server: ServerState,
    server_generation: u64,
    clients: Vec<Client>,
    client_generation: Vec<u64>,
    client_wait: Vec<ClientWait>,
    stopping: bool,
    /// When a shutdown's grace period ends, until it has.
    deadline: Option<Micros>,
    events: Vec<Event>,
    stats: Stats,
    cpu_window_busy: Micros,
    reported_backlog: usize,
}

impl Simulation {
    /// Starts `scenario` at time 0: the server is listening, the clients are
    /// scheduled at their start times.
    pub fn new(scenario: Scenario) -> Self {
        let mut net = Net::new(scenario.buffer, scenario.backlog);
        let mut events = Vec::new();
        events.push(Event {
            at: 0,
            kind: EventKind::Listening {
                addr: "127.0.0.1:8000".into(),
                model: scenario.model,
                errors: scenario.style,
            },
        });
        let model = {
            let mut cx = Cx {
                now: 0,
                net: &mut net,
                events: &mut events,
                style: scenario.style,
                costs: scenario.costs,
                stopping: false,
                deadline: None,
            };
            new_model(scenario.model, &mut cx)
        };
        let mut simulation = Simulation {
            now: 0,
            sequence: 0,
            queue: BinaryHeap::new(),
            net,
            model,
            server: ServerState::Running,
            server_generation: 0,
            clients: Vec::new(),
            client_generation: Vec::new(),
            client_wait: Vec::new(),
            stopping: false,
            deadline: None,
            events,
            stats: Stats::default(),
            cpu_window_busy: 0,
            reported_backlog: 0,
            scenario: Scenario {
                clients: Vec::new(),
                ..scenario.clone()
            },
        };
        simulation.schedule(0, Wake::Server { generation: 0 });
        simulation.schedule(CPU_WINDOW, Wake::CpuTick);
        for spec in scenario.clients {
            simulation.add_client(spec);
        }
        simulation
    }

    /// The virtual time now.
    pub fn now(&self) -> Micros {
        self.now
    }

    /// Totals so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether the server has exited (after a shutdown or a crash).
    pub fn server_stopped(&self) -> bool {
        self.server == ServerState::Stopped
    }

    /// Bytes each client got back intact, by client (1-based ids).
    pub fn echoed_by_client(&self) -> Vec<(ClientId, u64)> {
        self.clients
            .iter()
            .map(|client| (client.id(), client.echoed()))
            .collect()
    }

    /// Adds a client that starts at `spec.start` (or now, if that is past).
    pub fn add_client(&mut self, spec: ClientSpec) -> ClientId {
        let index = self.clients.len();
        let id = ClientId(index as u64 + 1);
        self.clients
            .push(Client::new(id, spec.behaviour.clone(), self.scenario.seed));
        self.client_generation.push(0);
        self.client_wait.push(ClientWait::Nothing);
        self.schedule(
            spec.start.max(self.now),
            Wake::Client {
                index,
                generation: 0,
            },
        );
        self.scenario.clients.push(spec);
        id
    }

    /// Begins a graceful shutdown now under `policy`: the listener closes,
    /// then the connections in flight
    ///
    /// * get `grace` to finish, and the rest is cancelled (grace then
    ///   cancel, [`Simulation::shutdown`]);
    /// * are cancelled at once (cancel at once);
    /// * are waited for with no deadline: the server stops when the last
    ///   has ended by itself, so a silent client keeps it for ever (wait for
    ///   everyone);
    /// * are each sent the goodbye line, then cancelled (notify first).
    ///
    /// Only asyncio's program offers a choice
    /// ([`ServerModel::shutdown_policy`](protocol::ServerModel::shutdown_policy)):
    /// the other models run grace then cancel whatever `policy` says, as
    /// their programs do (the page never asks them otherwise).
    pub fn shutdown_with(&mut self, policy: ShutdownPolicy, grace: Micros) {
        if self.stopping || self.server == ServerState::Stopped {
            return;
        }
        self.stopping = true;
        self.net.close_listener();
        self.with_cx(|model, cx| model.lines().at_anchor(cx, STOP_ACCEPTING));
        self.emit(EventKind::Shutdown {
            phase: ShutdownPhase::StopAccepting,
        });
        self.with_cx(|model, cx| model.stop_accepting(cx));
        match self.scenario.model.shutdown_policy(policy) {
            ShutdownPolicy::GraceThenCancel => {
                let deadline = self.now + grace;
                self.emit(EventKind::Shutdown {
                    phase: ShutdownPhase::Draining { deadline },
                });
                self.deadline = Some(deadline);
                self.schedule(deadline, Wake::Deadline);
            }
            ShutdownPolicy::CancelAtOnce => self.cancel_the_rest(CANCEL_AT_ONCE),
            ShutdownPolicy::WaitForEveryone => {
                self.with_cx(|model, cx| model.lines().at_anchor(cx, WAIT_FOR_EVERYONE));
                self.emit(EventKind::Shutdown {
                    phase: ShutdownPhase::WaitingForEveryone,
                });
            }
            ShutdownPolicy::NotifyFirst => {
                self.with_cx(|model, cx| model.lines().at_anchor(cx, SAY_GOODBYE));
                self.emit(EventKind::Shutdown {
                    phase: ShutdownPhase::Notifying,
                });
                self.with_cx(|model, cx| model.say_goodbye(cx));
                self.cancel_the_rest(THEN_CLOSE);
            }
        }
        self.wake_server();
        self.wake_touched_clients();
    }

    /// Begins a graceful shutdown now: the listener closes, connections in
    /// flight get `grace` to finish, then the rest is cancelled.
    pub fn shutdown(&mut self, grace: Micros) {
        self.shutdown_with(ShutdownPolicy::GraceThenCancel, grace);
    }

    /// Cancels what still runs, at the line `anchor` of the shutdown code.
    fn cancel_the_rest(&mut self, anchor: &str) {
        self.with_cx(|model, cx| model.lines().at_anchor(cx, anchor));
        self.emit(EventKind::Shutdown {
            phase: ShutdownPhase::Cancelling,
        });
        self.with_cx(|model, cx| model.cancel_the_rest(cx));
    }

    /// Takes the events produced since the last call.
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Runs everything due up to and including `time`, then sets the clock
    /// to `time`.
    pub fn run_until(&mut self, time: Micros) {
        while let Some(&Reverse((at, _, _))) = self.queue.peek() {
            if at > time {
                break;
            }
            self.process_next();
        }
        self.now = self.now.max(time);
    }

    /// Like [`Simulation::run_until`], but handles at most `wakes` of the
    /// things due (an actor woken, a timer fired), oldest first; the clock
    /// reaches `time` only if everything due by then was handled. Returns
    /// whether it was. Running to a time in slices gives the very run that
    /// one `run_until` gives: a page that must keep its frames short runs a
    /// slice per frame and lets the simulated clock fall behind.
    pub fn run_toward(&mut self, time: Micros, wakes: usize) -> bool {
        for _ in 0..wakes {
            match self.queue.peek() {
                Some(&Reverse((at, _, _))) if at <= time => self.process_next(),
                _ => {
                    self.now = self.now.max(time);
                    return true;
                }
            }
        }
        let reached = self
            .queue
            .peek()
            .is_none_or(|&Reverse((at, _, _))| at > time);
        if reached {
            self.now = self.now.max(time);
        }
        reached
    }

    /// Runs until the server begins its next loop iteration, or until
    /// `limit` microseconds have passed without one (the server is asleep
    /// and nothing will wake it). Returns whether an iteration began.
    pub fn step(&mut self, limit: Micros) -> bool {
        let until = self.now + limit;
        let before = self.stats.iterations;
        while self.stats.iterations == before {
            match self.queue.peek() {
                Some(&Reverse((at, _, _))) if at <= until => self.process_next(),
                _ => {
                    self.now = self.now.max(until);
                    return false;
                }
            }
        }
        true
    }

    /// Whether nothing is left to happen (every actor waits forever).
    pub fn is_idle(&self) -> bool {
        self.queue
            .iter()
            .all(|Reverse((_, _, wake))| *wake == Wake::CpuTick)
    }

    fn schedule(&mut self, at: Micros, wake: Wake) {
        self.sequence += 1;
        self.queue.push(Reverse((at, self.sequence, wake)));
    }

    fn emit(&mut self, kind: EventKind) {
        self.stats.events += 1;
        self.events.push(Event { at: self.now, kind });
    }

    fn with_cx<T>(&mut self, run: impl FnOnce(&mut dyn Model, &mut Cx) -> T) -> T {
        let first_new = self.events.len();
        let mut cx = Cx {
            now: self.now,
            net: &mut self.net,
            events: &mut self.events,
            style: self.scenario.style,
            costs: self.scenario.costs,
            stopping: self.stopping,
            deadline: self.deadline,
        };
        let result = run(self.model.as_mut(), &mut cx);
        self.count_new_events(first_new);
        result
    }

    fn count_new_events(&mut self, first_new: usize) {
        for event in &self.events[first_new..] {
            match event.kind {
                EventKind::WouldBlock { .. } => self.stats.would_block += 1,
                EventKind::LoopIteration { .. } => self.stats.iterations += 1,
                _ => {}
            }
        }
        self.stats.events += (self.events.len() - first_new) as u64;
    }

    fn process_next(&mut self) {
        let Some(Reverse((at, _, wake))) = self.queue.pop() else {
            return;
        };
        self.now = at;
        match wake {
            Wake::Server { generation } => {
                if generation == self.server_generation && self.server != ServerState::Stopped {
                    self.step_server();
                }
            }
            Wake::Client { index, generation } => {
                if generation == self.client_generation[index] {
                    self.step_client(index);
                }
            }
            Wake::Deadline => {
                self.deadline = None;
                if self.server != ServerState::Stopped {
                    self.cancel_the_rest(GRACE_OVER);
                    self.wake_server();
                }
            }
            Wake::CpuTick => {
                let busy_us = std::mem::take(&mut self.cpu_window_busy).min(CPU_WINDOW);
                self.emit(EventKind::Cpu {
                    busy_us,
                    window_us: CPU_WINDOW,
                });
                if self.server != ServerState::Stopped {
                    self.schedule(self.now + CPU_WINDOW, Wake::CpuTick);
                }
            }
        }
        self.wake_touched_clients();
        if self.server == ServerState::Sleeping && self.net.any_ready() {
            self.wake_server();
        }
        let backlog = self.net.backlog_len();
        if backlog != self.reported_backlog {
            self.reported_backlog = backlog;
            self.emit(EventKind::Backlog {
                waiting: backlog as u32,
            });
        }
    }

    fn step_server(&mut self) {
        self.server = ServerState::Running;
        match self.with_cx(|model, cx| model.step(cx)) {
            Next::Busy(cost) => {
                self.stats.busy += cost;
                self.cpu_window_busy += cost;
                self.schedule(
                    self.now + cost,
                    Wake::Server {
                        generation: self.server_generation,
                    },
                );
            }
            Next::Block { timeout } => {
                self.server = ServerState::Sleeping;
                self.server_generation += 1;
                if let Some(timeout) = timeout {
                    let generation = self.server_generation;
                    self.schedule(self.now + timeout, Wake::Server { generation });
                }
            }
            Next::Stopped => {
                self.server = ServerState::Stopped;
                self.server_generation += 1;
                if self.stopping {
                    self.with_cx(|model, cx| model.lines().at_anchor(cx, SHUT_DOWN));
                    self.emit(EventKind::Shutdown {
                        phase: ShutdownPhase::Stopped,
                    });
                }
            }
        }
    }

    /// Wakes the sleeping server now.
    fn wake_server(&mut self) {
        if self.server == ServerState::Sleeping {
            self.server = ServerState::Running;
            self.server_generation += 1;
            let generation = self.server_generation;
            self.schedule(self.now, Wake::Server { generation });
        }
    }

    fn step_client(&mut self, index: usize) {
        let first_new = self.events.len();
        let next = self.clients[index].step(self.now, &mut self.net, &mut self.events);
        self.stats.events += (self.events.len() - first_new) as u64;
        self.client_generation[index] += 1;
        let generation = self.client_generation[index];
        self.client_wait[index] = ClientWait::Nothing;
        match next {
            ClientNext::At(at) => self.schedule(at, Wake::Client { index, generation }),
            ClientNext::Readable => self.wait_client(index, ClientWait::Readable),
            ClientNext::Writable => self.wait_client(index, ClientWait::Writable),
            ClientNext::Done => {}
        }
    }

    fn wait_client(&mut self, index: usize, wait: ClientWait) {
        self.client_wait[index] = wait;
        if self.client_ready(index) {
            self.client_wait[index] = ClientWait::Nothing;
            let generation = self.client_generation[index];
            self.schedule(self.now, Wake::Client { index, generation });
        }
    }

    fn client_ready(&self, index: usize) -> bool {
        let Some(conn) = self.clients[index].conn() else {
            return false;
        };
        match self.client_wait[index] {
            ClientWait::Nothing => false,
            ClientWait::Readable => self.net.client_readable(conn),
            ClientWait::Writable => self.net.client_writable(conn),
        }
    }

    fn wake_touched_clients(&mut self) {
        let touched = self.net.take_touched();
        for (conn, recv_queue, send_queue) in self.net.changed_buffers(&touched) {
            self.emit(EventKind::Buffered {
                conn,
                recv_queue,
                send_queue,
            });
        }
        for conn in touched {
            // Clients connect under their 1-based id.
            let index = self.net.client_of_index(conn) - 1;
            if self.client_ready(index) {
                self.client_wait[index] = ClientWait::Nothing;
                let generation = self.client_generation[index];
                self.schedule(self.now, Wake::Client { index, generation });
            }
        }
    }
}
